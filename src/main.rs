//! The `samla` binary: everything lives in the library; this only hands over the exit code.
/// mimalloc: reading a directory allocates millions of small strings (DN parts, values);
/// glibc's allocator spent a fifth of discover's time on them (perf, bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // `samla waves | head` should end quietly when head stops reading, as Unix tools do,
    // instead of failing on a closed pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    samla::cli::main()
}
