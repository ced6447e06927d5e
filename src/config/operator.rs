//! Who is running samla: the operator's login name and the host, as the journal records them
//! for every run and a snapshot's acceptance records who accepted it.

/// The operator's login name and the host's name.
pub fn who() -> (String, String) {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let user = env("USER").or_else(login_name).or_else(|| env("USERNAME")).unwrap_or_else(|| "unknown".into());
    (user, host_name())
}

/// This computer's name, for the journal and the state's writer lock.
pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// The login name of the effective user, from the system's user database.
#[cfg(unix)]
fn login_name() -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: zeroed is a valid `passwd` (pointers null, numbers zero); getpwuid_r writes only
    // into `pwd` and `buf` (whose length it is told) and sets `result` to null or to `&pwd`.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe { libc::getpwuid_r(libc::geteuid(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points to a NUL-terminated string inside `buf`, alive here.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) }.to_string_lossy().into_owned();
    Some(name).filter(|n| !n.is_empty())
}

#[cfg(not(unix))]
fn login_name() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_login_name_comes_from_the_system() {
        // The same name `id -un` finds in the user database (where the user has an entry).
        let id = std::process::Command::new("id").arg("-un").output();
        if let Some(out) = id.ok().filter(|o| o.status.success()) {
            let expected = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert_eq!(super::login_name().as_deref(), Some(expected.as_str()));
        }
    }
}
