//! SQLite on a file system that turns read-only under the service: ext4
//! mounted with `errors=remount-ro` from a loop image, then an error
//! triggered through ext4's own `trigger_fs_error`, as a failing disk
//! would. The kernel keeps the mount listed `rw` (`emergency_ro`) and
//! SQLite only says "disk I/O error": deliveries get 503, never a 2xx for
//! what was not stored; `/ready` says `read_only`; `kakao_database_writable`
//! is 0 for the `KakaoDatabaseReadOnly` rule. The kernel takes such a file
//! system back only after fsck, so recovery is a restart: everything
//! acknowledged before is still there.
//!
//! A read-only mount at start-up is refused, saying what to do.
//!
//! The test mounts as root. Where that is not allowed it says so and
//! passes, except under CI.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{
    disk_full::{app_in, console_says, ready, send, stored},
    helpers::{API_TOKEN, free_addr},
};

/// An ext4 image mounted from a loop device, unmounted when dropped.
struct Ext4Disk {
    dir: tempfile::TempDir,
}

fn run(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

impl Ext4Disk {
    fn create() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let disk = Self { dir };
        let image = disk.image();
        std::fs::File::create(&image)
            .unwrap()
            .set_len(32 * 1024 * 1024)
            .unwrap();
        std::fs::create_dir(disk.mount_point()).unwrap();
        let made = run("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]);
        if made && disk.mount("errors=remount-ro") {
            return Some(disk);
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a loop-device ext4 image (run the tests as root, with e2fsprogs)"
        );
        eprintln!("read_only_disk: skipped; mounting a loop device needs root");
        None
    }

    fn image(&self) -> PathBuf {
        self.dir.path().join("disk.img")
    }

    fn mount_point(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    fn mount(&self, options: &str) -> bool {
        let options = format!("loop,{options}");
        run(
            "mount",
            &[
                "-o",
                &options,
                self.image().to_str().unwrap(),
                self.mount_point().to_str().unwrap(),
            ],
        )
    }

    fn unmount(&self) {
        assert!(run("umount", &[self.mount_point().to_str().unwrap()]));
    }

    /// An error as ext4 reports a failing disk's: the kernel aborts the
    /// journal and stops every write.
    fn fail(&self) {
        let output = Command::new("findmnt")
            .args(["-n", "-o", "SOURCE"])
            .arg(self.mount_point())
            .output()
            .unwrap();
        let source = String::from_utf8(output.stdout).unwrap();
        let device = Path::new(source.trim()).file_name().unwrap().to_owned();
        let trigger = Path::new("/sys/fs/ext4")
            .join(device)
            .join("trigger_fs_error");
        std::fs::write(&trigger, "kakao-webhooks read_only_disk test\n")
            .unwrap_or_else(|err| panic!("{}: {err}", trigger.display()));
    }

    /// What an operator does: unmount, fsck, mount again.
    fn repair(&self) {
        self.unmount();
        let fsck = Command::new("e2fsck")
            .args(["-f", "-y"])
            .arg(self.image())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        // 0: clean; 1: errors corrected.
        assert!(matches!(fsck.code(), Some(0 | 1)), "e2fsck: {fsck}");
        assert!(self.mount("errors=remount-ro"));
    }
}

impl Drop for Ext4Disk {
    fn drop(&mut self) {
        // Lazily: the service may still hold the database open.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.mount_point())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_system_turned_read_only_gets_503s_says_why_and_loses_nothing() {
    let Some(disk) = Ext4Disk::create() else {
        return;
    };
    let app = app_in(&disk.mount_point()).await;
    let (before, refused) = send(&app, "before", 5).await;
    assert_eq!((before.len(), refused), (5, 0));
    let (status, body) = ready(&app).await;
    assert_eq!(status, 200, "{body}");

    disk.fail();
    let (during, unavailable) = send(&app, "during", 10).await;
    assert_eq!(
        (during.len(), unavailable),
        (0, 10),
        "nothing is acknowledged that was not stored"
    );
    let (status, body) = ready(&app).await;
    assert_eq!(
        (status, body["database"].as_str()),
        (503, Some("read_only")),
        "{body}"
    );
    console_says(&app, "읽기 전용").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l == "kakao_database_writable 0"),
        "the gauge the KakaoDatabaseReadOnly rule reads"
    );
    app.stop().await.unwrap();

    disk.repair();
    let app = app_in(&disk.mount_point()).await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, 200, "{body}");
    let kept = stored(&app).await;
    for id in &before {
        assert!(
            kept.contains(id),
            "{id} was acknowledged and must be stored"
        );
    }
    let (after, refused) = send(&app, "after", 2).await;
    assert_eq!((after.len(), refused), (2, 0));
}

#[tokio::test]
async fn a_read_only_mount_at_start_up_is_refused_saying_what_to_do() {
    let Some(disk) = Ext4Disk::create() else {
        return;
    };
    let database = format!(
        "sqlite://{}",
        disk.mount_point().join("events.db").display()
    );
    // A database made as usual, then the volume mounted read-only.
    app_in(&disk.mount_point()).await.stop().await.unwrap();
    disk.unmount();
    assert!(disk.mount("ro"));

    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_kakao-webhooks"))
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", &database)
            .env("BIND_ADDR", free_addr())
            .env("INTERNAL_API_TOKEN", API_TOKEN)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "it must not start: {stderr}");
    assert!(
        stderr.contains("read-only") && stderr.contains("DATABASE_URL"),
        "says the database is read-only and which setting: {stderr}"
    );
}
