//! The module's global allocator: the system allocator, with every block wiped before it is
//! freed (and before a reallocation moves it).
//!
//! The module wipes the secrets it holds itself (`config::Secret`, the header values built from
//! them), but the HTTP stack copies request headers into buffers the module does not own:
//! hyper encodes each request head, `Authorization: Bearer …` included, into a connection's write
//! buffer, and frees that buffer when the connection closes. Freed heap memory keeps its bytes
//! until something else is allocated there, so after C_Logout and C_Finalize the bearer token was
//! still readable in the process (a core dump, /proc/PID/mem). Wiping every block on free closes
//! that for everything Rust allocates inside the module (the host's own `malloc`s are not
//! affected). The cost is one `memset` per free; BENCHMARKS.md and README "Security" give the
//! measured cost per signature.
//!
//! What this does not cover: memory that is still allocated (the connection pool is dropped at
//! C_Logout for that reason, see `tsb::client`), the kernel's socket buffers, and copies made by
//! the host application (the PIN buffer it passed to C_Login). Rust programs that link this crate
//! as a library (some of its tests) get this allocator too.

use std::alloc::{GlobalAlloc, Layout, System};

/// System allocator, zeroing on free.
pub(crate) struct ZeroOnFree;

// SAFETY: every method forwards to `System` with the same arguments; `dealloc` writes only
// within the block being freed, which the caller owns until it is freed.
unsafe impl GlobalAlloc for ZeroOnFree {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        wipe(ptr, layout.size());
        System.dealloc(ptr, layout)
    }

    // `realloc` is GlobalAlloc's default: allocate, copy, `dealloc` (which wipes) the old block.
    // The system's realloc could move the block and leave its old bytes behind.
}

/// Zero `len` bytes at `ptr` in a way the compiler keeps even when the block is freed next.
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes.
unsafe fn wipe(ptr: *mut u8, len: usize) {
    std::ptr::write_bytes(ptr, 0, len);
    // Without this the writes before a free may be removed as dead stores.
    std::hint::black_box(ptr);
}

#[global_allocator]
static GLOBAL: ZeroOnFree = ZeroOnFree;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipe_zeroes_and_realloc_keeps_contents() {
        let mut b = vec![0xABu8; 4096];
        // SAFETY: the vector's own buffer, writable for its length.
        unsafe { wipe(b.as_mut_ptr(), b.len()) };
        assert!(b.iter().all(|x| *x == 0));
        // Growing goes through alloc + copy + dealloc: the contents move intact.
        let mut v = vec![7u8; 10];
        v.resize(100_000, 7);
        assert!(v.iter().all(|x| *x == 7));
        v.truncate(5);
        v.shrink_to_fit();
        assert_eq!(v, [7; 5]);
    }
}
