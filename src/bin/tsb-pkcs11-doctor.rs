//! `tsb-pkcs11-doctor`: checks the configuration tsb-pkcs11 reads against the TSB it names, one
//! line per check with its verdict (see `tsb_pkcs11::doctor`, and README "First contact").

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let code = tsb_pkcs11::doctor::run(&args, &mut std::io::stdout().lock());
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(2))
}
