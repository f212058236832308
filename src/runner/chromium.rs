//! Where Chromium is, for `type: browser` hooks: a leaf of `runner/`, asked by the profile
//! check (a hook that cannot run is said at load) and by the browser that drives it.

/// The Chromium to use: `OAUTH_HARNESS_CHROMIUM`, else `chromium` or `chromium-browser` on
/// `PATH`; `Err` says why there is none.
pub fn chromium() -> Result<std::path::PathBuf, String> {
    if let Some(p) = std::env::var_os("OAUTH_HARNESS_CHROMIUM") {
        let p = std::path::PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "a `type: browser` hook needs Chromium, and OAUTH_HARNESS_CHROMIUM names no file ({})",
                p.display()
            ))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(
        "a `type: browser` hook needs Chromium, and none is installed (apt-get install \
         chromium, or set OAUTH_HARNESS_CHROMIUM)"
            .to_string(),
    )
}
