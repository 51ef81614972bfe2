//! Settings saved by several processes at once (the tray, the settings window and the CLI are
//! separate processes): every change is kept. The writers are real processes: this test
//! binary started again with `HEADROOM_TEST_SETTINGS_WRITER` set, which makes the test below
//! act as one writer instead of as the referee.

use std::path::Path;
use std::process::Command;

use headroom_core::settings;

const SAVES: u32 = 100;
const WRITER: &str = "HEADROOM_TEST_SETTINGS_WRITER";

/// One writer: waits for the start signal (so that both run at the same time), then saves its
/// own field `SAVES` times, 1 to `SAVES`. Each load must still hold the value this writer
/// saved last: a lost update shows at once, not only in the final file.
fn write_field(path: &Path, field: &str, go: &Path) -> Result<(), String> {
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let own = |s: &settings::Settings| match field {
        "poll" => s.sources.poll_minutes,
        _ => s.alerts.forecast_lead_minutes,
    };
    let mut last = None;
    for i in 1..=SAVES {
        let mut seen = None;
        settings::update(path, 0, |s| {
            seen = Some(own(s));
            match field {
                "poll" => s.sources.poll_minutes = i,
                _ => s.alerts.forecast_lead_minutes = i,
            }
        })
        .map_err(|e| e.to_string())?;
        if let (Some(last), Some(seen)) = (last, seen) {
            if seen != last {
                return Err(format!(
                    "{field}: saved {last}, then read {seen} (another process reverted it)"
                ));
            }
        }
        last = Some(i);
    }
    Ok(())
}

#[test]
fn two_processes_saving_different_fields_keep_both_changes() {
    if let Ok(spec) = std::env::var(WRITER) {
        let (field, path) = spec.split_once('=').unwrap();
        let path = Path::new(path);
        let go = path.with_file_name("go");
        if let Err(e) = write_field(path, field, &go) {
            eprintln!("{e}");
            std::process::exit(3);
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    let exe = std::env::current_exe().unwrap();
    let writers: Vec<_> = ["poll", "lead"]
        .iter()
        .map(|field| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "settings_processes::two_processes_saving_different_fields_keep_both_changes",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(WRITER, format!("{field}={}", path.display()))
                .spawn()
                .unwrap()
        })
        .collect();
    std::fs::write(dir.path().join("go"), "").unwrap();
    for mut w in writers {
        assert!(w.wait().unwrap().success(), "a writer lost an update");
    }
    let s = settings::load(&path).unwrap().settings;
    assert_eq!(
        s.sources.poll_minutes, SAVES,
        "the poll writer's last save was lost"
    );
    assert_eq!(
        s.alerts.forecast_lead_minutes, SAVES,
        "the lead writer's last save was lost"
    );
}
