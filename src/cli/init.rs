//! `samla init DIR`: a commented starting project an IT team fills in.

use crate::error::{Classified, ExitClass};
use std::path::{Path, PathBuf};

/// The starting `samla.toml`. Every key is explained; the sources are examples to edit.
pub const TEMPLATE: &str = r#"# samla.toml: where each municipality's directory is read from, and where samla keeps its state.
# Unknown keys are refused with their line, so a typo never goes unnoticed.

[state]
# One SQLite file holds snapshots (and later the journal). Relative paths are relative to this file.
path = "state/samla.db"

# One [[source]] per municipality. `name` is used in commands (`samla discover --source bjuv`).
# Either an `ldap` table (read live) or an `ldif` file (an `ldifde -f` export).

# [[source]]
# name = "bjuv"
# display_name = "Bjuvs kommun"
# [source.ldap]
# url = "ldaps://dc01.bjuv.local"           # ldaps://host[:636] or ldap://host[:389]
# base_dn = "DC=bjuv,DC=local"
# bind_dn = "CN=svc-samla-read,OU=Servicekonton,DC=bjuv,DC=local"
# password_env = "SAMLA_BJUV_PASSWORD"      # or: password_file = "/run/secrets/bjuv" (never the password itself)
# tls = "ldaps"                             # ldaps | starttls | plain (plain only to loopback unless allow_plain = true)
# ca_file = "certs/bjuv-ca.pem"             # the CA that signed the DC's certificate; the system store otherwise
# page_size = 1000                          # at most 1000 (AD's MaxPageSize)
# timeout_seconds = 30

# [[source]]
# name = "klippan"
# display_name = "Klippans kommun"
# ldif = "exports/klippan.ldf"
# max_shrink = 0.10                         # any source: a new snapshot whose users, groups or memberships
#                                           # shrank more than this share is held until `samla snapshots accept`

# [cutover]                                 # `samla wave cutover`: each moved person's first sign-in
# tap_lifetime_minutes = 480                # Temporary Access Pass lifetime: 10 to 43200, within the tenant's policy
# tap_usable_once = false
"#;

const MAPPINGS_README: &str = "# mappings/\n\nOne TOML file per municipality (how its attributes flow into the shared schema) \
plus target.toml (the shared target's domains, name templates and policies). `samla map` reads them.\n\n\
target.toml is a commented template: replace its example names with yours. For each [[source]] in \
samla.toml, copy municipality.toml.example to <source name>.toml and fill it in.\n";

/// The commented starting `mappings/target.toml`.
pub const TARGET_TEMPLATE: &str = include_str!("templates/target.toml");

/// The commented starting mapping of one municipality, `mappings/municipality.toml.example`
/// (copied to `mappings/<source name>.toml` per municipality).
pub const MUNICIPALITY_TEMPLATE: &str = include_str!("templates/municipality.toml");

const WAVES_README: &str = "# waves/\n\nOne file per migration wave, written by `samla plan` and reviewed by people \
(move a unit, pin it, exclude it, rename a wave).\n";

/// Why a starting project was not written.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{} exists already; samla init does not overwrite it", .0.display())]
    Exists(PathBuf),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl Classified for InitError {
    fn exit_class(&self) -> ExitClass {
        ExitClass::Work
    }
}

/// Writes samla.toml, mappings/ (target.toml, a municipality's template, plan.toml) and waves/
/// into `dir`; refuses to overwrite a samla.toml.
pub fn write_project(dir: &Path) -> Result<(), InitError> {
    let config = dir.join("samla.toml");
    if config.exists() {
        return Err(InitError::Exists(config));
    }
    let io = |path: &Path, source: std::io::Error| InitError::Io { path: path.to_path_buf(), source };
    for sub in ["mappings", "waves", "state"] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
    }
    for (path, text) in [
        (config, TEMPLATE),
        (dir.join("mappings/README.md"), MAPPINGS_README),
        (dir.join("waves/README.md"), WAVES_README),
        (dir.join("mappings/plan.toml"), include_str!("../../mappings/plan.toml")),
        (dir.join("mappings/target.toml"), TARGET_TEMPLATE),
        (dir.join("mappings/municipality.toml.example"), MUNICIPALITY_TEMPLATE),
    ] {
        std::fs::write(&path, text).map_err(|e| io(&path, e))?;
    }
    println!("wrote a starting project in {}: edit samla.toml, then run `samla discover`", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_mapping_templates_parse_with_the_mapping_loader() {
        let dir = tempfile::tempdir().unwrap();
        write_project(dir.path()).unwrap();
        let mappings = dir.path().join("mappings");
        for f in ["target.toml", "municipality.toml.example", "plan.toml"] {
            assert!(mappings.join(f).exists(), "{f}");
        }
        // target.toml as written, and a municipality once its file is named after its source.
        crate::mapping::spec::load(&mappings, &[]).unwrap();
        let named = MUNICIPALITY_TEMPLATE.replace("municipality = \"bjuv\"", "municipality = \"lund\"");
        std::fs::write(mappings.join("lund.toml"), named).unwrap();
        let target = TARGET_TEMPLATE.replace("priority = []", "priority = [\"lund\"]");
        std::fs::write(mappings.join("target.toml"), target).unwrap();
        let loaded = crate::mapping::spec::load(&mappings, &["lund".to_string()]).unwrap();
        assert_eq!(loaded.municipalities.len(), 1);
        // With their examples taken in (a key already set keeps its value; upn_by_kind needs a
        // second verified domain), the templates still load.
        let uncomment = |text: &str| {
            // Keys set per table (a table is known by the line of its header).
            let mut table = 0;
            let mut active: Vec<(usize, &str)> = Vec::new();
            for (i, l) in text.lines().enumerate() {
                let t = l.strip_prefix("# ").filter(|r| r.starts_with('[')).unwrap_or(l);
                if t.starts_with('[') {
                    table = i;
                } else if let Some((k, _)) = l.split_once(" = ") {
                    active.push((table, k));
                }
            }
            let mut table = 0;
            let mut out = Vec::new();
            for (i, l) in text.lines().enumerate() {
                let t = l.strip_prefix("# ").filter(|r| r.starts_with('[')).unwrap_or(l);
                if t.starts_with('[') {
                    table = i;
                    out.push(t);
                    continue;
                }
                out.push(match l.strip_prefix("# ").and_then(|r| r.split_once(" = ").map(|(k, _)| (k, r))) {
                    Some((k, r)) if !active.contains(&(table, k)) && k != "upn_by_kind" && !k.contains(' ') => r,
                    _ => l,
                });
            }
            out.join("\n")
        };
        std::fs::write(
            mappings.join("lund.toml"),
            uncomment(&std::fs::read_to_string(mappings.join("lund.toml")).unwrap()),
        )
        .unwrap();
        std::fs::write(
            mappings.join("target.toml"),
            uncomment(&std::fs::read_to_string(mappings.join("target.toml")).unwrap()),
        )
        .unwrap();
        let full = crate::mapping::spec::load(&mappings, &["lund".to_string()]).unwrap();
        assert!(
            full.target.targets.shared_ad.base_dn == "DC=samverkan,DC=example"
                && full.target.licences.contains_key("E3")
        );
        // The project's samla.toml still loads.
        Config::load(&dir.path().join("samla.toml")).unwrap();
    }

    #[test]
    fn the_template_parses_with_and_without_its_examples() {
        let file = Path::new("/p/samla.toml");
        assert!(Config::parse(file, TEMPLATE).unwrap().sources.is_empty());
        let uncommented: String = TEMPLATE
            .lines()
            .map(|l| l.strip_prefix("# ").filter(|r| r.starts_with('[') || r.contains(" = ")).unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let config = Config::parse(file, &uncommented).unwrap();
        assert_eq!(config.sources.len(), 2);
        assert_eq!(config.cutover, crate::config::CutoverSettings::default(), "the template shows the defaults");
    }
}
