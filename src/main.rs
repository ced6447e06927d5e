//! The `samla` binary: everything lives in the library; this only hands over the exit code.
/// mimalloc: reading a directory allocates millions of small strings (DN parts, values);
/// glibc's allocator spent a fifth of discover's time on them (perf, bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (include/mimalloc.h), which the
/// bindings do not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // `samla waves | head` should end quietly when head stops reading, as Unix tools do,
    // instead of failing on a closed pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Freed memory goes back to the OS only after a second unused, not after mimalloc's default
    // 10 ms: mapping a million users frees and reuses gigabytes phase by phase, and giving
    // pages back early made the kernel zero them again on every reuse (a quarter of `samla
    // map`'s time in perf at 100,000 users).
    // An explicit MIMALLOC_PURGE_DELAY (mimalloc reads it itself) wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain option store, before any other thread exists.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000);
        }
    }
    samla::cli::main()
}
