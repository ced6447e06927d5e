//! `samla map` on the sample estate: golden figures, valid names, stability, privacy.

use crate::support::{IDS, Project, mapped_project};
use samla::model::names::{validate_mail_nickname, validate_sam_account_name, validate_upn};
use serde_json::Value;

/// The newest unified directory's people, as stored.
fn unified(p: &Project) -> Value {
    let state = samla::state::State::open_read(&p.path().join("state/samla.db")).unwrap();
    let run = state.latest_unified().unwrap().unwrap();
    let people: Vec<Value> =
        state.unified_rows(run.id, "person").unwrap().iter().map(|r| serde_json::from_str(r).unwrap()).collect();
    serde_json::json!({ "people": people })
}

fn map_json(p: &Project) -> Value {
    let out = p.samla(&["map", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_sample_estate_maps_with_valid_names_and_reports_per_municipality() {
    let p = mapped_project("1.0");
    let run = map_json(&p);
    let u = unified(&p);
    let verified = vec!["samverkan.se".to_string(), "elev.samverkan.se".to_string()];
    let people = u["people"].as_array().unwrap();
    assert!(people.len() > 4000, "{}", people.len());
    for person in people {
        let upn = person["user_principal_name"].as_str().unwrap();
        validate_upn(upn, &verified).unwrap_or_else(|e| panic!("{upn}: {e}"));
        validate_mail_nickname(person["mail_nickname"].as_str().unwrap()).unwrap();
        validate_sam_account_name(person["sam_account_name"].as_str().unwrap()).unwrap();
        // Nothing that leaves the premises looks like a personnummer.
        for (attr, value) in person["cloud"].as_object().unwrap() {
            assert!(!samla::mapping::privacy::contains_personnummer(value.as_str().unwrap()), "{attr}: {value}");
        }
    }
    // Märta Ängström works in Bjuv and Åstorp: one person, two affiliations.
    let marta: Vec<&Value> = people.iter().filter(|p| p["display_name"] == "Märta Ängström").collect();
    assert_eq!(marta.len(), 1);
    assert_eq!(marta[0]["affiliations"].as_array().unwrap().len(), 2);
    assert_eq!(marta[0]["user_principal_name"], "marta.angstrom@samverkan.se");
    // Anna Andersson exists in all five: Klippan (first in priority) keeps the plain name.
    let annas: Vec<&Value> =
        people.iter().filter(|p| p["user_principal_name"].as_str().unwrap().starts_with("anna.andersson")).collect();
    let plain = annas.iter().find(|p| p["user_principal_name"] == "anna.andersson@samverkan.se").unwrap();
    assert_eq!(plain["affiliations"][0]["municipality"], "klippan");
    // Every municipality gets its reports: CSV with a BOM, JSON, and the outbound list.
    for id in IDS {
        let csv = std::fs::read(p.path().join(format!("reports/map/{id}-conflicts.csv"))).unwrap();
        assert!(csv.starts_with(b"\xEF\xBB\xBF"), "{id}");
        let json: Value =
            serde_json::from_slice(&std::fs::read(p.path().join(format!("reports/map/{id}-conflicts.json"))).unwrap())
                .unwrap();
        assert!(json.as_array().unwrap().iter().any(|f| f["category"] == "excluded"), "{id}");
        let outbound =
            String::from_utf8(std::fs::read(p.path().join(format!("reports/map/{id}-outbound.csv"))).unwrap()).unwrap();
        assert!(outbound.contains("employeeId"), "{id}: {outbound}");
        assert!(!outbound.contains("employeeNumber"), "{id}");
        assert!(run["summaries"][id]["people"].as_u64().unwrap() > 100, "{id}");
    }
    // The merged licence group holds people of all five municipalities; the nesting cycle is reported.
    let klippan: Value =
        serde_json::from_slice(&std::fs::read(p.path().join("reports/map/klippan-conflicts.json")).unwrap()).unwrap();
    assert!(klippan.as_array().unwrap().iter().any(|f| f["category"] == "nesting cycle"));
    assert!(klippan.as_array().unwrap().iter().any(|f| f["category"] == "merged groups"));
}

#[test]
fn mapping_again_gives_the_same_bytes_and_keeps_every_name() {
    let p = mapped_project("0.3");
    let first = map_json(&p)["run"]["content_hash"].clone();
    let second = map_json(&p)["run"]["content_hash"].clone();
    assert_eq!(first, second);
    // A new snapshot (same content, read again) maps to the same result.
    p.samla(&["discover", "-q"]).assert().success();
    assert_eq!(map_json(&p)["run"]["content_hash"], first);
}

#[test]
fn a_mistake_in_a_mapping_file_names_file_line_and_column() {
    let p = mapped_project("0.05");
    let file = p.path().join("mappings/bjuv.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    for (from, to, needle) in [
        ("from = \"title\"", "from = \"titel\"", "\"titel\" is not a source attribute"),
        ("\"trim\"]", "\"trimm\"]", "trimm"),
        ("regex = \"^KST-\"", "regex = \"^KST-(\"", "regex"),
        ("jobTitle = ", "jobTitel = ", "\"jobTitel\" is not a target attribute"),
    ] {
        std::fs::write(&file, text.replacen(from, to, 1)).unwrap();
        let out = p.samla(&["map"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{err}");
        let line = text.lines().position(|l| l.contains(from)).unwrap() + 1;
        assert!(err.contains(&format!("bjuv.toml:{line}:")), "{from}: {err}");
        assert!(err.contains(needle), "{needle}: {err}");
    }
    std::fs::write(&file, &text).unwrap();
    let target = p.path().join("mappings/target.toml");
    let t = std::fs::read_to_string(&target).unwrap();
    std::fs::write(&target, t.replacen("upn = \"{givenName}.{surname}\"", "upn = \"{givenName}.{surnam}\"", 1))
        .unwrap();
    let out = p.samla(&["map"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let line = t.lines().position(|l| l.starts_with("upn = \"{givenName}")).unwrap() + 1;
    assert!(err.contains(&format!("target.toml:{line}:21: unknown attribute `surnam`")), "{err}");
}

#[test]
fn a_personnummer_bound_for_the_cloud_is_refused_dropped_or_hashed() {
    let p = mapped_project("0.05");
    // Klippan sends employeeNumber (personnummer) to an allow-listed attribute by mistake.
    let file = p.path().join("mappings/klippan.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("from = \"employeeID\"", "from = \"employeeNumber\"").replace("{ truncate = 16 }", "\"trim\""),
    )
    .unwrap();
    let out = p.samla(&["map", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("blocking"));
    let klippan: Value =
        serde_json::from_slice(&std::fs::read(p.path().join("reports/map/klippan-conflicts.json")).unwrap()).unwrap();
    let violations = klippan.as_array().unwrap().iter().filter(|f| f["category"] == "privacy violation").count();
    assert!(violations > 0);
    let people = unified(&p)["people"].as_array().unwrap().clone();
    assert!(
        people.iter().all(|x| x["cloud"]["employeeId"]
            .as_str()
            .is_none_or(|v| !samla::mapping::privacy::contains_personnummer(v)))
    );

    let target = p.path().join("mappings/target.toml");
    let t = std::fs::read_to_string(&target).unwrap();
    std::fs::write(&target, t.replace("policy = \"refuse\"", "policy = \"hash\"")).unwrap();
    let out = p.samla(&["map", "--json"]).env("SAMLA_PRIVACY_KEY", "nyckel").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let people = unified(&p)["people"].as_array().unwrap().clone();
    let hashed =
        people.iter().filter(|x| x["cloud"]["employeeId"].as_str().is_some_and(|v| v.starts_with("h:"))).count();
    assert_eq!(hashed, violations);

    std::fs::write(&target, t.replace("policy = \"refuse\"", "policy = \"drop\"")).unwrap();
    p.samla(&["map", "-q"]).assert().success();
    let people = unified(&p)["people"].as_array().unwrap().clone();
    assert!(people.iter().all(|x| {
        x["cloud"]["employeeId"]
            .as_str()
            .is_none_or(|v| !v.starts_with("h:") && !samla::mapping::privacy::contains_personnummer(v))
    }));
}

/// The golden figures of the sample estate at scale 1.0: any change to the generator, the
/// mappings or the mapping rules shows up here for review (`cargo insta review`).
#[test]
fn golden_summary_of_the_sample_estate() {
    let p = mapped_project("1.0");
    let out = p.samla(&["map"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let table: Vec<&str> = text.lines().take_while(|l| !l.starts_with("content hash")).collect();
    let u = unified(&p);
    let people = u["people"].as_array().unwrap();
    let mut names: Vec<String> = people
        .iter()
        .filter(|x| {
            ["Märta Ängström", "Björn Åkesson", "Anna Andersson"].contains(&x["display_name"].as_str().unwrap())
        })
        .map(|x| {
            let homes: Vec<&str> =
                x["affiliations"].as_array().unwrap().iter().map(|a| a["municipality"].as_str().unwrap()).collect();
            format!(
                "{} {} {} [{}]",
                x["user_principal_name"].as_str().unwrap(),
                x["sam_account_name"].as_str().unwrap(),
                x["licence"].as_str().unwrap(),
                homes.join(", ")
            )
        })
        .collect();
    names.sort();
    insta::assert_snapshot!(format!("{}\n\n{}", table.join("\n"), names.join("\n")));
}

/// A snapshot object that no longer decodes (a damaged state file) stops `samla map` with an
/// error naming the state file and the snapshot, whichever reader meets it, and nothing of the
/// run is stored.
#[test]
fn an_unreadable_snapshot_object_stops_the_map_and_names_its_snapshot() {
    let p = mapped_project("0.05");
    let db = p.path().join("state/samla.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (snapshot, rowid): (i64, i64) = conn
        .query_row(
            "SELECT snapshot_id, rowid FROM snapshot_objects WHERE kind = 'user' ORDER BY rowid DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    conn.execute("UPDATE snapshot_objects SET data = '{\"objectGUID\": 7' WHERE rowid = ?1", [rowid]).unwrap();
    drop(conn);
    let out = p.samla(&["map"]).output().unwrap();
    let err = crate::support::stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&format!("snapshot {snapshot} holds an unreadable object")), "{err}");
    assert!(err.contains("samla.db"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let state = samla::state::State::open_read(&db).unwrap();
    assert!(state.latest_unified().unwrap().is_none(), "a map run was stored");
}
