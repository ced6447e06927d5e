//! The plan report as people see it: `samla::report::plan::write`'s waves.html opened in real
//! headless Chromium, driven over WebDriver's HTTP protocol (chromedriver) with reqwest. The
//! page is measured where it is drawn: bar heights against the numbers, the table's cells, label
//! overlaps, and that nothing was fetched. A screenshot is left beside the page for humans.
//!
//! Needs chromedriver and Chromium (Debian: `apt-get install chromium chromium-driver`;
//! tests/run.sh installs them): `SAMLA_TEST_CHROMEDRIVER`, else /usr/bin/chromedriver. Without
//! them the tests fail: a test that silently skips could never fail.

use reqwest::Method;
use samla::report::plan::{PlanReport, UnitRow, WaveRow};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MUNICIPALITIES: [&str; 5] = ["bjuv", "klippan", "perstorp", "astorp", "orkelljunga"];

/// A unit name that must come back from the browser exactly as written.
const TRICKY_UNIT: &str = "bjuv/Teknik <&> Service/Gata & Park \"Väg\" 'Åby'";

fn chromedriver() -> PathBuf {
    let path =
        std::env::var_os("SAMLA_TEST_CHROMEDRIVER").map_or_else(|| "/usr/bin/chromedriver".into(), PathBuf::from);
    assert!(
        path.is_file(),
        "{} not found: the report tests render in real headless Chromium; install it (Debian: apt-get install \
         chromium chromium-driver), set SAMLA_TEST_CHROMEDRIVER, or use `bash tests/run.sh`",
        path.display()
    );
    path
}

/// A running chromedriver on a loopback port and (once created) one headless browser session.
/// Dropping it ends the session and the driver, also when a test fails halfway.
struct Browser {
    driver: Child,
    port: u16,
    session: Option<String>,
    http: reqwest::Client,
    log: PathBuf,
}

impl Browser {
    async fn start(log_dir: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = log_dir.join("chromedriver.log");
        let driver = {
            use std::os::unix::process::CommandExt as _;
            Command::new(chromedriver())
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own process group, so Drop can end any browser it leaves behind.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver().display()))
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let mut browser = Browser { driver, port, session: None, http, log };
        browser.wait_ready().await;
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,1500",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ];
        args.extend(["--no-first-run", "--no-default-browser-check", "--disable-extensions"]);
        let mut options = json!({ "args": args });
        if let Some(binary) = std::env::var_os("SAMLA_TEST_CHROMIUM") {
            options["binary"] = json!(binary.to_string_lossy());
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}});
        let created = browser.call(Method::POST, "/session", Some(caps)).await;
        let id = created["sessionId"].as_str().unwrap_or_else(|| panic!("no sessionId in {created}")).to_string();
        browser.session = Some(id);
        browser
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("http://127.0.0.1:{}/status", self.port);
        loop {
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("chromedriver exited ({status}) before it was ready; log:\n{}", self.log_text());
            }
            if let Ok(resp) = self.http.get(&url).timeout(Duration::from_secs(2)).send().await
                && let Ok(body) = resp.json::<Value>().await
                && body["value"]["ready"] == json!(true)
            {
                return;
            }
            assert!(Instant::now() < deadline, "chromedriver not ready after 30 s; log:\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        text.get(start..).unwrap_or_default().to_string()
    }

    /// One WebDriver command; returns its `value`, failing with the driver's error otherwise.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or_else(|e| panic!("{method} {path}: {status}, not JSON: {e}"));
        assert!(status.is_success(), "{method} {path}: {status} {body}\nchromedriver log:\n{}", self.log_text());
        body["value"].clone()
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session.as_deref().unwrap_or_default())
    }

    async fn open(&self, page: &Path) {
        let url = url::Url::from_file_path(page).unwrap().to_string();
        self.call(Method::POST, &self.session_path("/url"), Some(json!({ "url": url }))).await;
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    async fn run(&self, script: &str) -> Value {
        self.call(Method::POST, &self.session_path("/execute/sync"), Some(json!({"script": script, "args": []}))).await
    }

    /// The visible viewport as PNG.
    async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let b64 = self.call(Method::GET, &self.session_path("/screenshot"), None).await;
        base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap()).unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Blocking on purpose (Drop cannot await, and it runs while a failed test unwinds):
        // ending the session over a plain socket closes the browser, then the driver goes.
        if let Some(id) = self.session.take() {
            use std::io::{Read as _, Write as _};
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(15)));
                let _ = write!(
                    s,
                    "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    self.port
                );
                let _ = s.read_to_end(&mut Vec::new());
            }
        }
        // The driver's process group: chromedriver and whatever browser it may have left.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn wave(number: u32, name: &str, accounts: [usize; 5], units: usize, impact: f64) -> WaveRow {
    let total: usize = accounts.iter().sum();
    WaveRow {
        number,
        name: name.into(),
        status: "planned".into(),
        accounts: MUNICIPALITIES.iter().map(|m| m.to_string()).zip(accounts).collect(),
        units,
        groups_created: units * 3 + 1,
        memberships: total * 4,
        manager_links: total / 12,
        impact,
    }
}

/// A plan as `samla plan` would report it for the five municipalities of the sample estate.
fn sample_report() -> PlanReport {
    let mut waves = vec![
        wave(1, "Pilot: IT and kommunledning", [38, 22, 14, 41, 17], 6, 12.5),
        wave(2, "Kultur & fritid, samhällsbyggnad", [96, 71, 0, 88, 45], 14, 31.0),
        wave(3, "Barn- och utbildning <förskola>", [412, 287, 156, 365, 198], 31, 84.7),
        wave(4, "Socialförvaltningen: äldreomsorg", [355, 240, 131, 310, 167], 27, 96.2),
        wave(5, "Stragglers (resources only)", [0, 0, 0, 0, 0], 2, 0.0),
        wave(6, "Övriga förvaltningar", [141, 118, 52, 134, 77], 19, 40.9),
    ];
    waves[5].status = "stale: bjuv snapshot changed".into();
    let mut units = Vec::new();
    for w in &waves {
        for (m, &accounts) in &w.accounts {
            if accounts > 0 {
                units.push(UnitRow {
                    wave: w.number,
                    unit: format!("{m}/{}/Enhet {}", w.name, w.number),
                    municipality: m.clone(),
                    accounts,
                    impact: w.impact / 5.0,
                    note: if w.number == 1 { "pinned".into() } else { String::new() },
                });
            }
        }
    }
    units.push(UnitRow {
        wave: 2,
        unit: TRICKY_UNIT.into(),
        municipality: "bjuv".into(),
        accounts: 0,
        impact: 0.4,
        note: "moved".into(),
    });
    PlanReport {
        planned_at: "2026-11-20T09:41:07+01:00".into(),
        inputs: vec![
            (
                "unified directory".into(),
                "sha256:5f0c2a9be1d74c0e8a3b6f1d2e4c7a9081b3d5f7e9a1c3b5d7f9e1a3c5b7d9f1".into(),
            ),
            ("mappings".into(), "sha256:a41be0c39d8f7e6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a".into()),
            ("snapshot bjuv".into(), "#14, 2026-11-19T22:03:11Z".into()),
        ],
        municipalities: MUNICIPALITIES.iter().map(|m| m.to_string()).collect(),
        waves,
        units,
    }
}

/// A folder under cargo's per-test-target scratch space (target/tmp) that outlives the test,
/// so the page and its screenshot can be looked at afterwards.
fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plan_report").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the page looks like once drawn: the bars' rendered boxes, the labels, the tables.
const MEASURE: &str = r#"
const box = e => { const r = e.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, height: r.height}; };
const rows = sel => [...document.querySelectorAll(sel)].map(tr => [...tr.cells].map(c => c.innerText.trim()));
return {
  charset: document.characterSet,
  title: document.title,
  resources: performance.getEntriesByType('resource').map(e => e.name),
  scripts: document.scripts.length,
  overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  segments: [...document.querySelectorAll('#accounts-chart rect.bar')].map(r => Object.assign(box(r), {
    wave: Number(r.dataset.wave), municipality: r.dataset.municipality, accounts: Number(r.dataset.accounts)})),
  impacts: [...document.querySelectorAll('#impact-chart rect.bar')].map(r => Object.assign(box(r), {
    wave: Number(r.dataset.wave), impact: Number(r.dataset.impact)})),
  xlabels: [...document.querySelectorAll('#accounts-chart text.xl')].map(t => Object.assign(box(t), {text: t.firstChild.nodeValue})),
  values: [...document.querySelectorAll('#accounts-chart text.val')].map(box),
  legend: [...document.querySelectorAll('#accounts-chart text.lg')].map(t => Object.assign(box(t), {text: t.textContent})),
  waves_text: document.getElementById('waves-table').innerText,
  waves_table_spill: document.getElementById('waves-table').getBoundingClientRect().width
    - document.getElementById('waves-table').parentElement.clientWidth,
  waves_rows: rows('#waves-table tbody tr'),
  total_row: rows('#waves-table tfoot tr')[0] || [],
  units_rows: rows('#units-table tbody tr'),
  empty: [...document.querySelectorAll('.empty')].map(e => e.innerText),
};
"#;

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("no number {key} in {v}"))
}

fn totals(report: &PlanReport) -> Vec<usize> {
    report.waves.iter().map(|w| w.accounts.values().sum()).collect()
}

/// The rendered bars: one segment per (wave, municipality) with accounts, each as tall as its
/// share, every wave's stack proportional to its total and standing on one baseline; the
/// impact bars proportional to the impact.
fn check_bars(report: &PlanReport, page: &Value) {
    let segments = page["segments"].as_array().unwrap();
    let visible: Vec<&Value> = segments.iter().filter(|s| num(s, "height") > 0.0).collect();
    let with_accounts = report.waves.iter().flat_map(|w| w.accounts.values()).filter(|&&a| a > 0).count();
    assert_eq!(visible.len(), with_accounts, "visible bar segments");

    let mut rendered: BTreeMap<u32, f64> = BTreeMap::new();
    let mut bottoms: Vec<f64> = Vec::new();
    for s in segments {
        let wave = report.waves.iter().find(|w| f64::from(w.number) == num(s, "wave")).unwrap();
        let m = s["municipality"].as_str().unwrap();
        assert_eq!(num(s, "accounts") as usize, wave.accounts[m], "data-accounts of wave {} {m}", wave.number);
        *rendered.entry(wave.number).or_default() += num(s, "height");
        bottoms.push(num(s, "bottom"));
    }
    let totals = totals(report);
    let (tallest, most) = report
        .waves
        .iter()
        .zip(&totals)
        .max_by_key(|(_, t)| **t)
        .map(|(w, t)| (rendered[&w.number], *t as f64))
        .unwrap();
    let per_account = tallest / most;
    assert!(tallest > 100.0, "the tallest bar is only {tallest} px");
    for (w, &total) in report.waves.iter().zip(&totals) {
        let height = rendered.get(&w.number).copied().unwrap_or(0.0);
        let expected = total as f64 * per_account;
        assert!(
            (height - expected).abs() <= 1.5,
            "wave {}: {height} px for {total} accounts, expected {expected}",
            w.number
        );
    }
    for s in segments {
        let expected = num(s, "accounts") * per_account;
        assert!((num(s, "height") - expected).abs() <= 1.0, "segment {s}: expected {expected} px");
    }
    // Stacks stand on one baseline: the lowest segment of every wave ends at the same y.
    let mut lowest: BTreeMap<u64, f64> = BTreeMap::new();
    for s in segments {
        let e = lowest.entry(num(s, "wave") as u64).or_insert(f64::MIN);
        *e = e.max(num(s, "bottom"));
    }
    let base = lowest.values().copied().fold(f64::MIN, f64::max);
    assert!(lowest.values().all(|b| (b - base).abs() <= 1.0), "bars off the baseline: {lowest:?}");

    let impacts = page["impacts"].as_array().unwrap();
    assert_eq!(impacts.len(), report.waves.len());
    let (max_h, max_v) = impacts
        .iter()
        .map(|b| (num(b, "height"), num(b, "impact")))
        .fold((0.0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
    for (b, w) in impacts.iter().zip(&report.waves) {
        // The CSV rounds impact to one decimal; the chart keeps it exact.
        assert!((num(b, "impact") - w.impact).abs() <= 0.05 + 1e-9, "impact of wave {}: {b}", w.number);
        let expected = if max_v > 0.0 { w.impact / max_v * max_h } else { 0.0 };
        assert!((num(b, "height") - expected).abs() <= 1.5, "impact bar {b}: expected {expected} px");
    }
}

/// Boxes (left, right) in drawing order that must not overlap.
fn check_apart(what: &str, boxes: &[Value]) {
    let mut spans: Vec<(f64, f64)> = boxes.iter().map(|b| (num(b, "left"), num(b, "right"))).collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0 + 0.5, "{what} overlap: {pair:?}");
    }
}

fn check_png(png: &[u8], min_width: u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(width >= min_width && height >= 600, "screenshot {width}x{height}");
    assert!(png.len() > 30_000, "screenshot of {} bytes: a blank page?", png.len());
}

#[tokio::test]
async fn sample_plan_renders_in_chromium() {
    let dir = out_dir("sample");
    let report = sample_report();
    let html = samla::report::plan::write(&report, &dir).unwrap();
    assert_eq!(html, dir.join("waves.html"));

    let browser = Browser::start(&dir).await;
    browser.open(&html).await;
    let page = browser.run(MEASURE).await;

    assert_eq!(page["charset"], "UTF-8");
    assert_eq!(page["title"], "samla: migration waves");
    assert_eq!(page["resources"], json!([]), "the page fetched something");
    assert_eq!(page["scripts"], 0);
    assert!(num(&page, "overflow") <= 0.0, "the page scrolls sideways");
    assert!(num(&page, "waves_table_spill") <= 0.0, "five municipalities' table needs a scroll bar at 1280 px");
    check_bars(&report, &page);

    // Every wave is labelled, totals above the bars, legend in the municipalities' order.
    let xlabels: Vec<&str> = page["xlabels"].as_array().unwrap().iter().map(|t| t["text"].as_str().unwrap()).collect();
    assert_eq!(xlabels, ["1", "2", "3", "4", "5", "6"]);
    check_apart("wave labels", page["xlabels"].as_array().unwrap());
    check_apart("total labels", page["values"].as_array().unwrap());
    let legend: Vec<&str> = page["legend"].as_array().unwrap().iter().map(|t| t["text"].as_str().unwrap()).collect();
    assert_eq!(legend, MUNICIPALITIES);
    check_apart("legend entries", page["legend"].as_array().unwrap());

    // The table behind the chart: per wave its number, accounts per municipality and total;
    // a total row; names with < & and å ä ö as written.
    let totals = totals(&report);
    let text = page["waves_text"].as_str().unwrap();
    let rows = page["waves_rows"].as_array().unwrap();
    assert_eq!(rows.len(), report.waves.len());
    for ((w, total), row) in report.waves.iter().zip(&totals).zip(rows) {
        assert!(text.contains(&total.to_string()), "the table lacks wave {}'s total {total}", w.number);
        assert_eq!(row[0], w.number.to_string());
        assert_eq!(row[1], w.name.as_str());
        assert_eq!(row[2], w.status.as_str());
        for (i, m) in MUNICIPALITIES.iter().enumerate() {
            assert_eq!(row[3 + i], w.accounts[*m].to_string(), "wave {} {m}", w.number);
        }
        assert_eq!(row[8], total.to_string());
        assert_eq!(row[13], format!("{:.1}", w.impact));
    }
    let total_row = &page["total_row"];
    assert_eq!(total_row[0], "Total");
    assert_eq!(total_row[6], totals.iter().sum::<usize>().to_string());
    let units = page["units_rows"].as_array().unwrap();
    assert_eq!(units.len(), report.units.len());
    assert!(units.iter().any(|r| r[1] == TRICKY_UNIT && r[5] == "moved"), "{TRICKY_UNIT} not shown as written");

    let png = browser.screenshot().await;
    check_png(&png, 1200);
    std::fs::write(dir.join("waves.png"), &png).unwrap();
    eprintln!("plan report and screenshot: {}", dir.display());
}

/// 150 waves: narrow bars, thinned labels that do not collide, nothing wider than the page;
/// then an empty plan: a message instead of the charts.
#[tokio::test]
async fn many_waves_and_no_waves_render_in_chromium() {
    let dir = out_dir("many");
    let mut report = sample_report();
    report.units.clear();
    report.waves = (1..=150u32)
        .map(|n| {
            let k = n as usize;
            let accounts = [k * 7 % 60, k * 13 % 45, if n % 10 == 0 { 0 } else { 5 + k % 9 }, k * 3 % 70, 2 * (k % 4)];
            wave(n, &format!("Wave {n} <{}>", n % 7), accounts, k % 5 + 1, (k * 37 % 100) as f64 / 4.0)
        })
        .collect();
    let html = samla::report::plan::write(&report, &dir).unwrap();
    let browser = Browser::start(&dir).await;
    browser.open(&html).await;
    let page = browser.run(MEASURE).await;
    assert_eq!(page["resources"], json!([]));
    assert!(num(&page, "overflow") <= 0.0, "the page scrolls sideways");
    check_bars(&report, &page);
    let xlabels = page["xlabels"].as_array().unwrap();
    assert!((5..=40).contains(&xlabels.len()), "{} wave labels for 150 waves", xlabels.len());
    check_apart("wave labels", xlabels);
    assert_eq!(page["waves_rows"].as_array().unwrap().len(), 150);
    let png = browser.screenshot().await;
    check_png(&png, 1200);
    std::fs::write(dir.join("waves.png"), &png).unwrap();

    let empty = out_dir("empty");
    let html = samla::report::plan::write(
        &PlanReport { waves: vec![], units: vec![], inputs: vec![], ..sample_report() },
        &empty,
    )
    .unwrap();
    browser.open(&html).await;
    let page = browser.run(MEASURE).await;
    assert_eq!(page["segments"], json!([]));
    assert_eq!(page["waves_rows"], json!([]));
    let messages = page["empty"].to_string();
    assert!(messages.contains("No waves planned"), "{messages}");
}

/// The report `samla demo` writes for the sample estate: the numbers read back from the
/// rendered page equal its CSV, bar by bar and cell by cell.
#[tokio::test]
async fn the_demo_plan_report_renders_in_chromium() {
    let dir = out_dir("demo");
    let demo = dir.join("project");
    let out = crate::support::samla().arg("demo").arg("--dir").arg(&demo).arg("-q").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan_dir = demo.join("reports/plan");
    let csv_text = std::fs::read_to_string(plan_dir.join("waves.csv")).unwrap();
    let mut lines = csv_text.trim_start_matches('\u{feff}').lines();
    let header: Vec<&str> = lines.next().unwrap().split(';').collect();
    let municipalities: Vec<String> = header[3..header.len() - 6].iter().map(|s| s.to_string()).collect();
    assert_eq!(municipalities.len(), 5, "{header:?}");
    let waves: Vec<WaveRow> = lines
        .map(|line| {
            let f: Vec<&str> = line.split(';').collect();
            let n = |i: usize| f[i].parse::<usize>().unwrap();
            WaveRow {
                number: f[0].parse().unwrap(),
                name: f[1].to_string(),
                status: f[2].to_string(),
                accounts: municipalities.iter().enumerate().map(|(i, m)| (m.clone(), n(3 + i))).collect(),
                units: n(f.len() - 5),
                groups_created: n(f.len() - 4),
                memberships: n(f.len() - 3),
                manager_links: n(f.len() - 2),
                impact: f[f.len() - 1].parse().unwrap(),
            }
        })
        .collect();
    assert!(waves.len() >= 5 && waves[0].name == "pilot", "{waves:?}");
    let report = PlanReport { planned_at: String::new(), inputs: Vec::new(), municipalities, waves, units: Vec::new() };

    let browser = Browser::start(&dir).await;
    browser.open(&plan_dir.join("waves.html")).await;
    let page = browser.run(MEASURE).await;
    assert_eq!(page["resources"], json!([]), "the page fetched something");
    check_bars(&report, &page);
    let rows = page["waves_rows"].as_array().unwrap();
    assert_eq!(rows.len(), report.waves.len());
    for (w, row) in report.waves.iter().zip(rows) {
        assert_eq!(row[1], w.name.as_str());
        assert_eq!(row[8], w.accounts.values().sum::<usize>().to_string(), "wave {}", w.number);
    }
    let png = browser.screenshot().await;
    check_png(&png, 1200);
    std::fs::write(dir.join("waves.png"), &png).unwrap();
}
