//! What a wave's cutovers changed ([`crate::wave::cutover`]), as rows of the rollback reports:
//! the accounts enabled (tenant and shared AD) and the Temporary Access Passes issued, each
//! with the inverse `samla wave rollback` sends first. A pass is named by its method id and
//! validity, never by the pass itself (the journal never has it).

use super::{Step, UndoItem, Verification, item};
use crate::journal::{Action, Entry, OpState, System};

/// The report rows of the cutover entries `entries` (the journal of runs of kind cutover):
/// municipality and row, in the order sent.
pub fn items(entries: &[Entry]) -> Vec<(String, UndoItem)> {
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| e.may_have_happened()) {
        let url = e.intent_json().ok().and_then(|i| i["url"].as_str().map(str::to_string)).unwrap_or_default();
        let before = e.before_json().ok().flatten().unwrap_or_default();
        let mut row = match (e.action, e.system) {
            (Action::EnableUser, System::SharedAd) => {
                let was = before["userAccountControl"].to_string();
                let mut row = item(e, Step::Links, &e.object, "userAccountControl", was.clone(), "512".into());
                row.inverse = format!("replace userAccountControl: {was} on {}", e.object);
                row
            }
            (Action::EnableUser, _) => {
                let mut row = item(e, Step::Links, &e.object, "accountEnabled", "false".into(), "true".into());
                row.inverse = format!("PATCH {url} accountEnabled false");
                row
            }
            (Action::IssuePass, _) if e.state == OpState::Done => {
                let result: serde_json::Value =
                    e.result.as_deref().and_then(|r| serde_json::from_str(r).ok()).unwrap_or_default();
                let id = e.object_id.clone().unwrap_or_default();
                let after = format!(
                    "pass {id}, valid from {} for {} minutes",
                    result["startDateTime"].as_str().unwrap_or("?"),
                    result["lifetimeInMinutes"]
                );
                let mut row = item(e, Step::Links, &e.object, "temporaryAccessPass", String::new(), after);
                row.inverse = format!("DELETE {url}/{id}");
                row
            }
            _ => continue,
        };
        row.note = "changed by a cutover: undone first by `samla wave rollback`".to_string();
        row.verification = Verification::Unverified;
        out.push((e.municipality.clone(), row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(system: System, action: Action, intent: &str, before: Option<&str>, result: &str, id: &str) -> Entry {
        Entry {
            id: 1,
            run_id: 3,
            system,
            action,
            municipality: "bjuv".into(),
            anchor: Some("a1".into()),
            object: if system == System::SharedAd { "CN=Åsa,OU=Bjuv".into() } else { "asa@samverkan.se".into() },
            intent: intent.into(),
            before: before.map(str::to_string),
            state: OpState::Done,
            status: Some(201),
            result: Some(result.into()),
            object_id: Some(id.into()),
            sent_at: "2026-12-07T07:00:00Z".into(),
            operator: "op".into(),
            wave_hash: "h".into(),
        }
    }

    #[test]
    fn a_cutovers_enables_and_passes_are_listed_with_their_inverses_never_the_pass() {
        let entries = vec![
            entry(
                System::SharedAd,
                Action::EnableUser,
                r#"{"dn":"CN=Åsa,OU=Bjuv"}"#,
                Some(r#"{"userAccountControl":514}"#),
                "enabled",
                "CN=Åsa,OU=Bjuv",
            ),
            entry(
                System::Tenant,
                Action::EnableUser,
                r#"{"method":"PATCH","url":"/users/u1"}"#,
                Some(r#"{"accountEnabled":false}"#),
                "enabled",
                "u1",
            ),
            entry(
                System::Tenant,
                Action::IssuePass,
                r#"{"method":"POST","url":"/users/u1/authentication/temporaryAccessPassMethods"}"#,
                None,
                r#"{"id":"m1","startDateTime":"2026-12-07T07:00:00+00:00","lifetimeInMinutes":480}"#,
                "m1",
            ),
            entry(System::Tenant, Action::DeletePass, "{}", None, "deleted", "m0"),
        ];
        let rows = items(&entries);
        assert_eq!(rows.len(), 3, "{rows:#?}");
        let ad = &rows[0].1;
        assert_eq!((ad.before.as_str(), ad.after.as_str()), ("514", "512"));
        assert_eq!(ad.inverse, "replace userAccountControl: 514 on CN=Åsa,OU=Bjuv");
        assert_eq!(rows[1].1.inverse, "PATCH /users/u1 accountEnabled false");
        let pass = &rows[2].1;
        assert_eq!(pass.after, "pass m1, valid from 2026-12-07T07:00:00+00:00 for 480 minutes");
        assert_eq!(pass.inverse, "DELETE /users/u1/authentication/temporaryAccessPassMethods/m1");
        assert!(rows.iter().all(|(m, r)| m == "bjuv" && r.step == 1 && r.run == 3));
    }
}
