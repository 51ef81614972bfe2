//! `headroom serve` against the real engines: a real Prometheus server (Debian's
//! `prometheus`) scraping `/metrics` on loopback, and an OTLP/HTTP receiver built on the
//! official protobuf definitions (`tests/support_otlp/receiver.py`, PyPI
//! `opentelemetry-proto`), both fed by the loopback usage server and real transcripts.
//!
//! Nothing is skipped: without `prometheus` or the Python package the tests fail and say to
//! run `scripts/setup.sh`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use headroom_tests::account::*;
use headroom_tests::free_port;
use serde_json::Value;

const SONNET: &str = "claude-sonnet-4-5-20250929";
/// The project folder Claude Code would name for /home/dev/secret-project: a path that must
/// never appear in a label.
const PROJECT_DIR: &str = "-home-dev-secret-project";

/// A child killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// One assistant response as Claude Code writes it.
fn response_line(i: u32, input: u64, output: u64, cache_read: u64) -> String {
    let ts = chrono::DateTime::from_timestamp_millis(now_ms() - 60_000)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    format!(
        r#"{{"cwd":"/home/dev/secret-project","sessionId":"s1","version":"2.0.31","message":{{"id":"msg_{i}","type":"message","role":"assistant","model":"{SONNET}","content":[{{"type":"text","text":"x"}}],"usage":{{"input_tokens":{input},"cache_creation_input_tokens":0,"cache_read_input_tokens":{cache_read},"output_tokens":{output}}}}},"requestId":"req_{i}","type":"assistant","uuid":"u{i}","timestamp":"{ts}"}}"#
    )
}

fn transcript(home: &Home) -> PathBuf {
    let dir = home.claude_dir().join("projects").join(PROJECT_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("s1.jsonl")
}

fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

/// GETs `url` (plain HTTP on loopback) with curl; the body, or `None` while nothing answers.
fn get(url: &str, query: Option<&str>) -> Option<String> {
    let mut c = Command::new("curl");
    c.args(["-sS", "--fail", "--max-time", "5", "-G", url]);
    if let Some(q) = query {
        c.arg("--data-urlencode").arg(format!("query={q}"));
    }
    let out = c.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `check` until it gives a value or `timeout` passes.
fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `headroom serve` with `args` against the usage server `api`, its stderr in a file.
fn serve(home: &Home, api: &str, args: &[&str], env: &[(&str, &str)]) -> (Running, PathBuf) {
    let log = home.dir.path().join("serve.log");
    let mut c = home.command(Some(api));
    c.arg("serve").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    (Running(c.spawn().unwrap()), log)
}

/// The body of `/metrics` once the first round has published the session window.
fn first_page(port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/metrics");
    wait_for("the first round's metrics", Duration::from_secs(30), || {
        get(&url, None).filter(|b| b.contains(r#"window="session""#))
    })
}

/// `headroom serve --metrics` on a free loopback port, once its first page is up (and has
/// no secret in it).
fn serve_metrics(home: &Home, api: &str) -> (Running, PathBuf, u16) {
    let port = free_port();
    let (serve, log) = serve(home, api, &["--metrics", &format!("127.0.0.1:{port}")], &[]);
    assert_no_secret(&first_page(port));
    (serve, log, port)
}

/// The value of the one sample a PromQL query gives, once it gives one equal to `expected`
/// (Prometheus's answer, as JSON, is in the failure message otherwise).
fn prometheus_value(port: u16, query: &str, expected: f64) {
    let url = format!("http://127.0.0.1:{port}/api/v1/query");
    let mut last = String::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(body) = get(&url, Some(query)) {
            let j: Value = serde_json::from_str(&body).unwrap();
            let results = j["data"]["result"].as_array().cloned().unwrap_or_default();
            if let [one] = results.as_slice() {
                let value: f64 = one["value"][1].as_str().unwrap().parse().unwrap();
                if (value - expected).abs() < 1e-9 {
                    return;
                }
            }
            last = body;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never answered {query} with {expected}; last answer: {last}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A real Prometheus scraping `target` every second, with its data in `dir`.
fn prometheus(dir: &Path, target: u16) -> (Running, u16) {
    let bin = on_path("prometheus").unwrap_or_else(|| {
        panic!("the `prometheus` server is not installed: run scripts/setup.sh (it installs Debian's `prometheus` package)")
    });
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: headroom\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Running(child), port)
}

/// What must never be on the page or in a push: the account's tokens, the project's path.
fn assert_no_secret(text: &str) {
    for secret in [
        TOKEN,
        REFRESH_TOKEN,
        "sk-ant-",
        "secret-project",
        PROJECT_DIR,
        "/home/dev",
    ] {
        assert!(!text.contains(secret), "{secret:?} leaked:\n{text}");
    }
}

#[test]
fn prometheus_scrapes_the_accounts_and_the_transcripts_figures_and_new_lines() {
    let api = usage_server(fixture("legacy_only.json"));
    let home = Home::new();
    let file = transcript(&home);
    append(&file, &response_line(1, 100, 20, 1000));
    append(&file, &response_line(2, 50, 5, 0));
    let (_serve, log, port) = serve_metrics(&home, &api.base);
    let (_prometheus, prom) = prometheus(home.dir.path(), port);

    // The loopback account's figures (legacy_only.json): session 37 %, Extra Usage $12.34
    // of a $50 cap; the transcripts' tokens.
    prometheus_value(
        prom,
        r#"headroom_window_utilization_ratio{job="headroom",window="session"}"#,
        0.37,
    );
    prometheus_value(
        prom,
        r#"headroom_window_utilization_ratio{window="weekly_model",model="opus"}"#,
        0.04,
    );
    prometheus_value(prom, r#"headroom_extra_usage_spent{currency="USD"}"#, 12.34);
    prometheus_value(
        prom,
        r#"headroom_extra_usage_monthly_cap{currency="USD"}"#,
        50.0,
    );
    prometheus_value(prom, "headroom_extra_usage_enabled", 1.0);
    let input = format!(r#"headroom_local_tokens{{kind="input",model="{SONNET}"}}"#);
    prometheus_value(prom, &input, 150.0);
    prometheus_value(
        prom,
        &format!(r#"headroom_local_tokens{{kind="cache_read",model="{SONNET}"}}"#),
        1000.0,
    );
    prometheus_value(
        prom,
        &format!(r#"headroom_local_responses{{model="{SONNET}"}}"#),
        2.0,
    );

    // A new response in the transcript reaches the counters within a scrape or two (the
    // scrape asks serve to read the transcripts; the round itself is minutes away).
    append(&file, &response_line(3, 7, 1, 0));
    prometheus_value(prom, &input, 157.0);
    assert_no_secret(&std::fs::read_to_string(&log).unwrap());
}

#[test]
fn the_metrics_page_names_each_family_once_with_help_and_unit_and_no_secret() {
    let api = usage_server(fixture("legacy_only.json"));
    let home = Home::new();
    append(&transcript(&home), &response_line(1, 100, 20, 0));
    let (_serve, _log, port) = serve_metrics(&home, &api.base);
    let page = first_page(port);
    for family in headroom_metrics_names() {
        assert_eq!(
            page.matches(&format!("# TYPE {family} ")).count(),
            1,
            "{family}:\n{page}"
        );
        assert!(page.contains(&format!("# HELP {family} ")), "{family}");
    }
    assert!(page.contains("# UNIT headroom_window_utilization_ratio ratio"));
    assert!(page.ends_with("# EOF\n"), "{page}");
    // Not a metrics page: a 404, and the server goes on.
    let url = format!("http://127.0.0.1:{port}/other");
    assert_eq!(get(&url, None), None);
    assert!(get(&format!("http://127.0.0.1:{port}/metrics"), None).is_some());
}

/// The family names as the OpenMetrics `# TYPE` lines give them.
fn headroom_metrics_names() -> Vec<&'static str> {
    vec![
        "headroom_window_utilization_ratio",
        "headroom_window_resets_at_seconds",
        "headroom_extra_usage_enabled",
        "headroom_extra_usage_monthly_cap",
        "headroom_extra_usage_spent",
        "headroom_local_tokens",
        "headroom_local_cost_usd",
        "headroom_source_age_seconds",
    ]
}

#[test]
fn serve_refuses_a_bad_address_and_having_nothing_to_serve() {
    let home = Home::new();
    let out = output({
        let mut c = home.command(None);
        c.args(["serve", "--metrics", "localhost:http"]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not an address to listen on"),
        "{}",
        stderr(&out)
    );
    let out = output({
        let mut c = home.command(None);
        c.arg("serve");
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("nothing to serve"),
        "{}",
        stderr(&out)
    );
}

/// The loopback OTLP receiver in `mode` (with its arguments: see `receiver.py`), its decoded
/// requests arriving on the channel.
fn receiver(mode: &[&str]) -> (Running, u16, mpsc::Receiver<Value>) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("support_otlp/receiver.py");
    let check = Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.proto.collector.metrics.v1.metrics_service_pb2",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        check.status.success(),
        "the OTLP receiver needs PyPI's opentelemetry-proto: run scripts/setup.sh\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut child = Command::new("python3")
        .arg(script)
        .args(mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    let hello = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let port = hello["listening"].as_u64().unwrap() as u16;
    (Running(child), port, rx)
}

/// A resource's attributes as name → string value.
fn attributes(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|kv| {
                    (
                        kv["key"].as_str().unwrap_or("").to_owned(),
                        kv["value"]["stringValue"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every metric of a decoded request, by name.
fn metrics_of(request: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for rm in request["resourceMetrics"].as_array().into_iter().flatten() {
        for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
            out.extend(sm["metrics"].as_array().into_iter().flatten().cloned());
        }
    }
    out
}

fn points(metric: &Value) -> Vec<Value> {
    let data = if metric["gauge"].is_object() {
        &metric["gauge"]
    } else {
        &metric["sum"]
    };
    data["dataPoints"].as_array().cloned().unwrap_or_default()
}

fn point_value(p: &Value) -> f64 {
    p["asDouble"].as_f64().unwrap_or(0.0)
}

fn has_attr(p: &Value, key: &str, value: &str) -> bool {
    attributes(&p["attributes"]).contains(&(key.to_owned(), value.to_owned()))
}

#[test]
fn otlp_pushes_the_same_figures_with_units_and_resource_attributes() {
    let (_receiver, port, requests) = receiver(&["ok"]);
    let api = usage_server(fixture("legacy_only.json"));
    let home = Home::new();
    std::fs::create_dir_all(home.headroom_home()).unwrap();
    std::fs::write(
        home.headroom_home().join("settings.json"),
        r#"{"metrics": {"user": "alice-laptop"}}"#,
    )
    .unwrap();
    append(&transcript(&home), &response_line(1, 100, 20, 0));
    let endpoint = format!("http://127.0.0.1:{port}");
    let (_serve, log) = serve(
        &home,
        &api.base,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-team-key=team-secret-123"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
        ],
    );
    // The first pushes may precede the first round (no samples yet): wait for the session.
    let request = wait_for(
        "a push with the session window",
        Duration::from_secs(40),
        || {
            let r = requests.recv_timeout(Duration::from_secs(1)).ok()?;
            let has_session = metrics_of(&r["request"]).iter().any(|m| {
                m["name"] == "headroom_window_utilization"
                    && points(m).iter().any(|p| has_attr(p, "window", "session"))
            });
            has_session.then_some(r)
        },
    );
    assert_eq!(request["path"], "/v1/metrics");
    assert_eq!(request["content_type"], "application/x-protobuf");
    assert_eq!(request["headers"]["x-team-key"], "team-secret-123");
    let resource = attributes(&request["request"]["resourceMetrics"][0]["resource"]["attributes"]);
    assert!(
        resource.contains(&("service.name".into(), "headroom".into())),
        "{resource:?}"
    );
    assert!(
        resource.contains(&("user.name".into(), "alice-laptop".into())),
        "{resource:?}"
    );
    assert!(
        resource
            .iter()
            .any(|(k, v)| k == "host.name" && !v.is_empty()),
        "{resource:?}"
    );

    let metrics = metrics_of(&request["request"]);
    let find = |name: &str| {
        metrics
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("{name} not pushed: {metrics:?}"))
            .clone()
    };
    let utilization = find("headroom_window_utilization");
    assert_eq!(utilization["unit"], "1");
    let session = points(&utilization)
        .into_iter()
        .find(|p| has_attr(p, "window", "session"))
        .unwrap();
    assert!((point_value(&session) - 0.37).abs() < 1e-9, "{session}");
    assert!(has_attr(&session, "user", "alice-laptop"), "{session}");
    let spent = find("headroom_extra_usage_spent");
    let spent = points(&spent);
    assert!(has_attr(&spent[0], "currency", "USD"));
    assert!((point_value(&spent[0]) - 12.34).abs() < 1e-9);
    let resets = find("headroom_window_resets_at");
    assert_eq!(resets["unit"], "s");
    // A total the ledger can restate (a reprice, a rebuild): a sum, but not monotonic.
    let tokens = find("headroom_local_tokens");
    assert!(tokens["sum"].is_object(), "{tokens}");
    assert!(
        !tokens["sum"]["isMonotonic"].as_bool().unwrap_or(false),
        "{tokens}"
    );
    let input = points(&tokens)
        .into_iter()
        .find(|p| has_attr(p, "kind", "input") && has_attr(p, "model", SONNET))
        .unwrap();
    assert_eq!(point_value(&input), 100.0);
    assert_eq!(find("headroom_local_cost")["unit"], "USD");
    assert_no_secret(&request["request"].to_string());
    // The collector's key is sent to the collector, never logged.
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("team-secret-123"), "{log}");
}

#[test]
fn a_collector_that_fails_or_hangs_does_not_slow_the_round() {
    for mode in ["503", "hang"] {
        let (_receiver, port, requests) = receiver(&[mode]);
        let api = usage_server(fixture("legacy_only.json"));
        let home = Home::new();
        let file = transcript(&home);
        append(&file, &response_line(1, 100, 20, 0));
        let metrics_port = free_port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let (_serve, log) = serve(
            &home,
            &api.base,
            &["--metrics", &format!("127.0.0.1:{metrics_port}")],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
                ("HEADROOM_LOG", "warn"),
            ],
        );
        let started = Instant::now();
        // The collector is being tried...
        requests
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{mode}: no export attempt"));
        // ...while the round has published its figures,
        let page = first_page(metrics_port);
        assert!(page.contains("headroom_local_tokens"), "{page}");
        // and a new transcript line reaches /metrics within seconds, scrape after scrape.
        append(&file, &response_line(2, 11, 1, 0));
        let url = format!("http://127.0.0.1:{metrics_port}/metrics");
        let needle = format!(r#"headroom_local_tokens{{kind="input",model="{SONNET}"}} 111"#);
        wait_for(
            &format!("{mode}: the new line in /metrics"),
            Duration::from_secs(10),
            || get(&url, None).filter(|b| b.contains(&needle)),
        );
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "{mode}: {:?}",
            started.elapsed()
        );
        if mode == "503" {
            // Retried at the next interval (not given up), and the failure was logged.
            requests
                .recv_timeout(Duration::from_secs(15))
                .expect("a retry after the 503");
            // (Not just "export": serve's own first line names OTEL_EXPORTER_OTLP_ENDPOINT.)
            wait_for(
                "the failed export's log line",
                Duration::from_secs(15),
                || {
                    let log = std::fs::read_to_string(&log).ok()?;
                    (log.contains("503") || log.to_lowercase().contains("fail")).then_some(())
                },
            );
        }
    }
}

/// One response of `model` (any string: it is JSON-escaped into the line).
fn response_line_of(model: &str, i: u32) -> String {
    let quoted = serde_json::to_string(model).unwrap();
    response_line(i, 10, 1, 0).replace(SONNET, &quoted[1..quoted.len() - 1])
}

#[test]
fn a_hostile_model_name_neither_breaks_the_scrape_nor_adds_series() {
    let api = usage_server(fixture("legacy_only.json"));
    let home = Home::new();
    let file = transcript(&home);
    // The audit's name (with newlines: refused at ingestion, or escaped here), and the same
    // without newlines (a quote and a brace are a model name's right: escaped here).
    let with_newlines = "claude-x\"} 1\nheadroom_extra_usage_enabled{injected=\"yes\"} 1\n# EOF\n";
    let one_line = "claude-y\"} 1 headroom_extra_usage_enabled{injected=\"yes\"} 1 # EOF \\";
    append(&file, &response_line(1, 100, 20, 0));
    append(&file, &response_line_of(with_newlines, 2));
    append(&file, &response_line_of(one_line, 3));
    let (_serve, _log, port) = serve_metrics(&home, &api.base);
    let page = first_page(port);
    assert_eq!(page.lines().filter(|l| *l == "# EOF").count(), 1, "{page}");
    assert!(
        !page
            .lines()
            .any(|l| l.starts_with("headroom_extra_usage_enabled{injected")),
        "{page}"
    );
    let (_prometheus, prom) = prometheus(home.dir.path(), port);

    // Every scrape succeeds (an invalid page would make `up` 0 and drop all samples),
    prometheus_value(prom, r#"up{job="headroom"}"#, 1.0);
    prometheus_value(
        prom,
        &format!(r#"headroom_local_responses{{model="{SONNET}"}}"#),
        1.0,
    );
    // the quoted name is one label value, as written,
    prometheus_value(
        prom,
        r#"headroom_local_responses{model="claude-y\"} 1 headroom_extra_usage_enabled{injected=\"yes\"} 1 # EOF \\"}"#,
        1.0,
    );
    // and the injected series does not exist.
    let url = format!("http://127.0.0.1:{prom}/api/v1/query");
    let answer = get(
        &url,
        Some(r#"headroom_extra_usage_enabled{injected="yes"}"#),
    )
    .unwrap();
    let j: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(j["data"]["result"], serde_json::json!([]), "{answer}");
    prometheus_value(prom, "count(headroom_extra_usage_enabled)", 1.0);
}

/// A raw HTTP/1.1 exchange: sends `request`, returns the status line.
fn status_of(port: u16, request: &str) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.lines().next().unwrap_or("").to_owned()
}

#[test]
fn the_endpoint_answers_only_to_its_own_names() {
    let api = usage_server(fixture("legacy_only.json"));
    let home = Home::new();
    append(&transcript(&home), &response_line(1, 100, 20, 0));
    let (_serve, _log, port) = serve_metrics(&home, &api.base);
    // A page that rebinds its own name to 127.0.0.1 still sends that name.
    let evil = status_of(
        port,
        "GET /metrics HTTP/1.1\r\nHost: evil.example:9464\r\n\r\n",
    );
    assert!(evil.starts_with("HTTP/1.1 421"), "{evil}");
    for host in [
        format!("127.0.0.1:{port}"),
        "localhost".to_owned(),
        format!("[::1]:{port}"),
    ] {
        let ok = status_of(
            port,
            &format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        );
        assert!(ok.starts_with("HTTP/1.1 200"), "{host}: {ok}");
    }
    let post = status_of(
        port,
        &format!("POST /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\ncontent-length: 0\r\n\r\n"),
    );
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
}

#[test]
fn a_slow_client_does_not_delay_a_scrape() {
    let api = usage_server(fixture("legacy_only.json"));
    let home = Home::new();
    append(&transcript(&home), &response_line(1, 100, 20, 0));
    let (_serve, _log, port) = serve_metrics(&home, &api.base);
    // One byte every 0.5 s: its head would take 20 s to arrive.
    let head = format!("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let slow_head_takes = Duration::from_millis(500) * head.len() as u32;
    let slow = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let started = Instant::now();
        for b in head.bytes() {
            if s.write_all(&[b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        // Cut off by the server: the write failed, or the answer is the end of the stream.
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut rest);
        (started.elapsed(), rest)
    });
    std::thread::sleep(Duration::from_millis(700));
    let url = format!("http://127.0.0.1:{port}/metrics");
    let started = Instant::now();
    let page = get(&url, None).expect("the scrape answers");
    let took = started.elapsed();
    assert!(page.contains("headroom_local_tokens"), "{page}");
    // A correctness bound, not a benchmark: the scrape did not queue behind the slow head.
    assert!(
        took < slow_head_takes / 4,
        "the scrape took {took:?} beside a client whose head takes {slow_head_takes:?}"
    );
    let (slow_took, answer) = slow.join().unwrap();
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "the slow client was served"
    );
    assert!(
        slow_took < slow_head_takes,
        "the slow client held on for {slow_took:?}"
    );
}

#[test]
fn the_api_key_does_not_follow_a_redirect_to_another_collector() {
    let (_second, second_port, second_requests) = receiver(&["ok"]);
    let elsewhere = format!("http://127.0.0.1:{second_port}/collect");
    let (_first, first_port, first_requests) = receiver(&["redirect", &elsewhere]);
    let api = usage_server(fixture("legacy_only.json"));
    let home = Home::new();
    append(&transcript(&home), &response_line(1, 100, 20, 0));
    let endpoint = format!("http://127.0.0.1:{first_port}");
    let (_serve, _log) = serve(
        &home,
        &api.base,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=SECRETKEY"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
        ],
    );
    // The named collector gets the pushes (with the key), twice over,
    for _ in 0..2 {
        let r = first_requests
            .recv_timeout(Duration::from_secs(30))
            .expect("a push to the named collector");
        assert_eq!(r["headers"]["x-api-key"], "SECRETKEY");
    }
    // and the host it redirects to gets nothing at all.
    if let Ok(r) = second_requests.recv_timeout(Duration::from_secs(2)) {
        panic!("the redirect was followed: {r}");
    }
}

/// A CA and a certificate for 127.0.0.1 signed by it, made with the openssl command line:
/// (ca.pem, cert.pem, key.pem).
fn test_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs (scripts/setup.sh)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Headroom test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "key.pem",
            "-out",
            "cert.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "cert.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

#[test]
fn an_https_collector_receives_the_push_when_its_ca_is_trusted() {
    let home = Home::new();
    let (ca, cert, key) = test_certificates(home.dir.path());
    let (_receiver, port, requests) =
        receiver(&["tls", cert.to_str().unwrap(), key.to_str().unwrap()]);
    let api = usage_server(fixture("legacy_only.json"));
    append(&transcript(&home), &response_line(1, 100, 20, 0));
    let endpoint = format!("https://127.0.0.1:{port}");
    let (_serve, _log) = serve(
        &home,
        &api.base,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.to_str().unwrap()),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=over-tls"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
        ],
    );
    let request = requests
        .recv_timeout(Duration::from_secs(30))
        .expect("a push over https");
    assert_eq!(request["path"], "/v1/metrics");
    assert_eq!(request["headers"]["x-api-key"], "over-tls");
}

#[test]
fn an_https_collector_with_an_unknown_ca_gets_nothing() {
    let home = Home::new();
    let (_ca, cert, key) = test_certificates(home.dir.path());
    let (_receiver, port, requests) =
        receiver(&["tls", cert.to_str().unwrap(), key.to_str().unwrap()]);
    let api = usage_server(fixture("legacy_only.json"));
    append(&transcript(&home), &response_line(1, 100, 20, 0));
    let endpoint = format!("https://127.0.0.1:{port}");
    let (_serve, log) = serve(
        &home,
        &api.base,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
            ("HEADROOM_LOG", "warn"),
        ],
    );
    // Pushes are tried (and fail, logged) but none is delivered.
    wait_for(
        "a failed export in the log",
        Duration::from_secs(30),
        || {
            let log = std::fs::read_to_string(&log).ok()?;
            log.to_lowercase().contains("fail").then_some(())
        },
    );
    assert!(requests.recv_timeout(Duration::from_secs(1)).is_err());
}
