//! Minimal but structurally valid PE/COFF images for the signing tools that sign them
//! (osslsigncode: Authenticode; sbsign: UEFI Secure Boot). The image is never run: a DOS header,
//! a PE header, one `.text` section holding a `ret`, and empty data directories, which is all
//! the signers need to hash the headers and sections and to append the signature through the
//! security data directory.

/// Which image to build.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PeKind {
    /// A 32-bit Windows console executable (PE32, i386).
    Win32Console,
    /// An x86-64 UEFI application (PE32+, the format of shim, GRUB and signed kernels).
    EfiApplication,
}

const FILE_ALIGN: usize = 0x200;

/// The image's bytes.
pub fn minimal_pe(kind: PeKind) -> Vec<u8> {
    let pe32plus = kind == PeKind::EfiApplication;
    let mut f = vec![0u8; 2 * FILE_ALIGN];
    let put16 =
        |f: &mut Vec<u8>, at: usize, v: u16| f[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |f: &mut Vec<u8>, at: usize, v: u32| f[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put64 =
        |f: &mut Vec<u8>, at: usize, v: u64| f[at..at + 8].copy_from_slice(&v.to_le_bytes());
    // DOS header: "MZ", e_lfanew -> PE header at 0x40.
    f[0..2].copy_from_slice(b"MZ");
    put32(&mut f, 0x3c, 0x40);
    let pe = 0x40;
    f[pe..pe + 4].copy_from_slice(b"PE\0\0");
    // COFF header. The optional header is 96 (PE32) or 112 (PE32+) bytes plus 16 data
    // directories of 8 bytes.
    let opt_size: u16 = if pe32plus { 240 } else { 224 };
    let coff = pe + 4;
    let (machine, characteristics) = if pe32plus {
        (0x8664, 0x0022) // x86-64; executable image, large address aware
    } else {
        (0x014c, 0x0102) // i386; executable image, 32-bit
    };
    put16(&mut f, coff, machine);
    put16(&mut f, coff + 2, 1); // sections
    put16(&mut f, coff + 16, opt_size);
    put16(&mut f, coff + 18, characteristics);
    // Optional header: the same layout up to the subsystem, except the image base.
    let opt = coff + 20;
    put16(&mut f, opt, if pe32plus { 0x020b } else { 0x010b });
    put32(&mut f, opt + 4, FILE_ALIGN as u32); // size of code
    put32(&mut f, opt + 16, 0x1000); // entry point
    put32(&mut f, opt + 20, 0x1000); // base of code
    if pe32plus {
        put64(&mut f, opt + 24, 0x1_4000_0000); // image base
    } else {
        put32(&mut f, opt + 24, 0x1000); // base of data
        put32(&mut f, opt + 28, 0x0040_0000); // image base
    }
    put32(&mut f, opt + 32, 0x1000); // section alignment
    put32(&mut f, opt + 36, FILE_ALIGN as u32); // file alignment
    put16(&mut f, opt + 40, 4); // OS version 4.0
    put16(&mut f, opt + 48, 4); // subsystem version 4.0
    put32(&mut f, opt + 56, 0x2000); // size of image
    put32(&mut f, opt + 60, FILE_ALIGN as u32); // size of headers
    put16(&mut f, opt + 68, if pe32plus { 10 } else { 3 }); // EFI application / console
    if pe32plus {
        put64(&mut f, opt + 72, 0x10_0000); // stack reserve
        put64(&mut f, opt + 80, 0x1000); // stack commit
        put64(&mut f, opt + 88, 0x10_0000); // heap reserve
        put64(&mut f, opt + 96, 0x1000); // heap commit
        put32(&mut f, opt + 108, 16); // number of data directories (all empty)
    } else {
        put32(&mut f, opt + 72, 0x10_0000); // stack reserve
        put32(&mut f, opt + 76, 0x1000); // stack commit
        put32(&mut f, opt + 80, 0x10_0000); // heap reserve
        put32(&mut f, opt + 84, 0x1000); // heap commit
        put32(&mut f, opt + 92, 16); // number of data directories (all empty)
    }
    // Section table.
    let sec = opt + opt_size as usize;
    f[sec..sec + 8].copy_from_slice(b".text\0\0\0");
    put32(&mut f, sec + 8, 1); // virtual size
    put32(&mut f, sec + 12, 0x1000); // virtual address
    put32(&mut f, sec + 16, FILE_ALIGN as u32); // raw size
    put32(&mut f, sec + 20, FILE_ALIGN as u32); // raw pointer
    put32(&mut f, sec + 36, 0x6000_0020); // code, execute, read
    f[FILE_ALIGN] = 0xc3; // ret
    f
}
