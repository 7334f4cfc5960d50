//! OpenSSH and git: `ssh-keygen -D`, `ssh-agent` with `ssh-add -s`, `ssh-keygen -Y sign` and
//! `-Y verify`, `git commit -S` with `gpg.format=ssh` checked by `git verify-commit`.
//!
//! Every check compares against the key the TSB reports (its SubjectPublicKeyInfo converted by
//! `ssh-keygen -i`), never against what the module printed.

use crate::common;
use common::doors::{installed, report_version};
use common::interop::World;
use common::tools::{run, run_output, text, tool, Bg};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SIGNER: &str = "tools@example.invalid";

fn ssh_keygen() -> PathBuf {
    tool("ssh-keygen", "openssh-client")
}

fn report_ssh_version() {
    // `ssh -V` prints e.g. "OpenSSH_9.2p1 Debian-2+deb12u6, OpenSSL 3.0.17 1 Jul 2025".
    report_version(
        "openssh",
        Command::new(tool("ssh", "openssh-client")).arg("-V"),
    );
}

#[test]
fn ssh_keygen_lists_the_module_keys() {
    report_ssh_version();
    let w = World::new("ssh-list", false);
    w.keygen("EC:prime256v1", "ssh-ec", "5e01");
    w.keygen("rsa:2048", "ssh-rsa", "5e02");
    let mut c = w.cmd(&ssh_keygen());
    c.arg("-D").arg(&w.module);
    let out = run_output(&mut c);
    let listed = String::from_utf8(out.stdout).unwrap();
    // One line per key: "type base64 label".
    for label in ["ssh-ec", "ssh-rsa"] {
        let expected = format!("{} {label}", w.tsb_ssh_pubkey(label));
        assert!(
            listed.lines().any(|l| l.trim() == expected),
            "ssh-keygen -D does not list {expected}:\n{listed}"
        );
    }
    assert_eq!(listed.lines().count(), 2, "{listed}");
    // Listing reads public keys only.
    assert_eq!(w.sign_counts(), (0, 0));
}

/// An `ssh-agent -D` on a socket in the world's dir, killed when dropped.
struct Agent {
    _bg: Bg,
    sock: PathBuf,
}

impl Agent {
    /// Start the agent. For the built module its path must be allowed with `-P` (ssh-agent
    /// loads PKCS#11 modules only from /usr/lib*/ and /usr/local/lib*/ by default); the
    /// installed package's module needs no `-P`, which the installed run checks.
    fn start(w: &World) -> Agent {
        let sock = w.path("agent.sock");
        let log = std::fs::File::create(w.path("ssh-agent.log")).unwrap();
        let mut c = w.cmd(&tool("ssh-agent", "openssh-client"));
        c.arg("-D").arg("-a").arg(&sock);
        if !installed() {
            c.arg("-P").arg(&w.module);
        }
        c.stdout(Stdio::null()).stderr(log);
        let bg = Bg::new(c.spawn().expect("spawn ssh-agent"), "ssh-agent");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sock.exists() {
            assert!(Instant::now() < deadline, "ssh-agent made no socket");
            std::thread::sleep(Duration::from_millis(10));
        }
        Agent { _bg: bg, sock }
    }

    /// A command that talks to this agent.
    fn cmd(&self, w: &World, program: &Path) -> Command {
        let mut c = w.cmd(program);
        c.env("SSH_AUTH_SOCK", &self.sock);
        c
    }

    /// `ssh-add -s MODULE` (the PIN prompt reads an empty line from stdin: no login needed),
    /// then `ssh-add -L` must list exactly the TSB's keys.
    fn add_module(&self, w: &World, labels: &[&str]) {
        let mut c = self.cmd(w, &tool("ssh-add", "openssh-client"));
        c.arg("-s").arg(&w.module);
        let out = run(&mut c);
        assert!(out.contains("Card added"), "{out}");
        let mut c = self.cmd(w, &tool("ssh-add", "openssh-client"));
        let listed = run(c.arg("-L"));
        for label in labels {
            let key = w.tsb_ssh_pubkey(label);
            assert!(
                listed.lines().any(|l| l.starts_with(&key)),
                "agent does not hold {label} ({key}):\n{listed}"
            );
        }
        assert_eq!(listed.lines().count(), labels.len(), "{listed}");
    }
}

/// An allowed-signers file trusting the TSB's key of `label` for [`SIGNER`].
fn allowed_signers(w: &World, label: &str) -> PathBuf {
    let line = format!("{SIGNER} {}\n", w.tsb_ssh_pubkey(label));
    common::write(&w.dir, &format!("{label}.allowed"), line.as_bytes())
}

/// The TSB's key of `label` as an OpenSSH public key file (what `-Y sign -f` and git's
/// `user.signingkey` name; the private half is in the agent).
fn pubkey_file(w: &World, label: &str) -> PathBuf {
    let line = format!("{} {label}\n", w.tsb_ssh_pubkey(label));
    common::write(&w.dir, &format!("{label}.pub"), line.as_bytes())
}

/// The key's SHA256 fingerprint as `ssh-keygen -l` prints it.
fn fingerprint(pubkey: &Path) -> String {
    let mut c = Command::new(ssh_keygen());
    let out = run(c.arg("-l").arg("-f").arg(pubkey));
    out.split_whitespace()
        .find(|f| f.starts_with("SHA256:"))
        .unwrap_or_else(|| panic!("no fingerprint in {out}"))
        .to_string()
}

/// `ssh-keygen -Y sign` through the agent, then `-Y verify` with the TSB's key.
fn sign_file_and_verify(w: &World, agent: &Agent, label: &str) {
    let data = common::write(&w.dir, &format!("{label}.txt"), b"release artefact\n");
    let mut c = agent.cmd(w, &ssh_keygen());
    c.args(["-Y", "sign", "-n", "file", "-f"])
        .arg(pubkey_file(w, label))
        .arg(&data);
    run(&mut c);
    let sig = w.path(&format!("{label}.txt.sig"));
    let armored = std::fs::read_to_string(&sig).unwrap();
    assert!(
        armored.starts_with("-----BEGIN SSH SIGNATURE-----"),
        "{armored}"
    );

    let verify = |allowed: &Path, data: &Path| {
        Command::new(ssh_keygen())
            .args(["-Y", "verify", "-n", "file", "-I", SIGNER, "-f"])
            .arg(allowed)
            .arg("-s")
            .arg(&sig)
            .stdin(std::fs::File::open(data).unwrap())
            .output()
            .expect("ssh-keygen -Y verify")
    };
    let out = verify(&allowed_signers(w, label), &data);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("Good \"file\" signature for {SIGNER}")),
        "{}",
        text(&out)
    );
    // The check can fail: other data is refused.
    let other = common::write(&w.dir, "other.txt", b"not the artefact\n");
    let out = verify(&allowed_signers(w, label), &other);
    assert!(
        !out.status.success(),
        "tampered data verified: {}",
        text(&out)
    );
}

/// A repository in the world's dir, with git's global and system configuration kept out.
fn git_repo(w: &World, label: &str) -> PathBuf {
    let repo = w.path(&format!("repo-{label}"));
    let mut c = w.cmd(&tool("git", "git"));
    run(c.arg("init").arg("-q").arg(&repo).env("HOME", &w.dir));
    repo
}

fn git(w: &World, agent: &Agent, repo: &Path) -> Command {
    let mut c = agent.cmd(w, &tool("git", "git"));
    c.current_dir(repo)
        .env("HOME", &w.dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["-c", "user.name=TSB tools test"])
        .args(["-c", &format!("user.email={SIGNER}")]);
    c
}

/// `git commit -S` signed through the agent, checked by `git verify-commit` against an
/// allowed-signers file with the TSB's key, and refused with another key.
fn git_commit_and_verify(w: &World, agent: &Agent, label: &str) {
    let repo = git_repo(w, label);
    let key = pubkey_file(w, label);
    let mut c = git(w, agent, &repo);
    c.args(["-c", "gpg.format=ssh", "-c"])
        .arg(format!("user.signingkey={}", key.display()))
        .args([
            "commit",
            "-q",
            "-S",
            "--allow-empty",
            "-m",
            "signed by the TSB",
        ]);
    run(&mut c);

    let verify = |allowed: &Path| {
        let mut c = git(w, agent, &repo);
        c.arg("-c")
            .arg(format!("gpg.ssh.allowedSignersFile={}", allowed.display()))
            .args(["verify-commit", "HEAD"])
            .output()
            .expect("git verify-commit")
    };
    let out = verify(&allowed_signers(w, label));
    assert!(out.status.success(), "{}", text(&out));
    let expected = format!(
        "Good \"git\" signature for {SIGNER} with {} key {}",
        if label.contains("rsa") {
            "RSA"
        } else {
            "ECDSA"
        },
        fingerprint(&key)
    );
    assert!(
        text(&out).contains(&expected),
        "{expected}:\n{}",
        text(&out)
    );

    // The check can fail: a signers file with another key refuses the commit.
    let other = w.path(&format!("other-key-{label}"));
    let mut c = Command::new(ssh_keygen());
    run(c
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "other", "-f"])
        .arg(&other));
    let line = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let wrong = common::write(
        &w.dir,
        &format!("{label}.wrong.allowed"),
        format!("{SIGNER} {line}").as_bytes(),
    );
    let out = verify(&wrong);
    assert!(
        !out.status.success(),
        "verified with the wrong key: {}",
        text(&out)
    );
}

#[test]
fn ssh_agent_signs_files_and_git_commits() {
    report_ssh_version();
    report_version("git", Command::new(tool("git", "git")).arg("--version"));
    let w = World::new("ssh-agent", false);
    w.keygen("EC:prime256v1", "agent-ec", "a001");
    w.keygen("rsa:2048", "agent-rsa", "a002");
    let agent = Agent::start(&w);
    agent.add_module(&w, &["agent-ec", "agent-rsa"]);
    for label in ["agent-ec", "agent-rsa"] {
        sign_file_and_verify(&w, &agent, label);
        git_commit_and_verify(&w, &agent, label);
    }
    // One signature per file and per commit, each one request (ECDSA raw digest; RSA
    // rsa-sha2-512 as a PKCS#1 DigestInfo).
    assert_eq!(w.sign_counts(), (4, 0));
}

#[test]
fn ssh_agent_git_commit_with_approval_gated_key() {
    report_ssh_version();
    let w = World::new("ssh-ska", true);
    w.keygen("EC:prime256v1", "agent-ska", "a003");
    let agent = Agent::start(&w);
    agent.add_module(&w, &["agent-ska"]);
    // Loading the keys into the agent signs nothing; the signature file and the commit each
    // wait for one approval given by `tsb-approve watch --auto-approve`.
    assert_eq!(w.sign_counts(), (0, 0));
    let watcher = w.watch(2);
    sign_file_and_verify(&w, &agent, "agent-ska");
    git_commit_and_verify(&w, &agent, "agent-ska");
    let out = watcher.finish(Duration::from_secs(20));
    assert!(out.status.success(), "tsb-approve: {}", text(&out));
    assert_eq!(
        text(&out).matches("approved task").count(),
        2,
        "{}",
        text(&out)
    );
    assert_eq!(w.sign_counts(), (0, 2));
}
