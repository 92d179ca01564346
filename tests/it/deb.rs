//! The Debian packages of `scripts/package-deb`, found in `MONBRIDGE_DEB_DIR` (CI builds them
//! from the portable binaries after the tests and runs these; without it they are skipped):
//! what they hold, and an install into a clean root with dpkg, whose monbridge then runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::peers;

fn deb_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MONBRIDGE_DEB_DIR").map(PathBuf::from);
    if dir.is_none() {
        eprintln!("skipped: MONBRIDGE_DEB_DIR names no folder of packages (scripts/package-deb)");
    }
    dir
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn run(command: &mut Command) -> String {
    let output = peers::output(command);
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `dpkg-deb -c`: the paths, without the leading `.`, and each line as listed.
fn contents(deb: &Path) -> Vec<String> {
    run(Command::new("dpkg-deb").arg("-c").arg(deb))
        .lines()
        .map(str::to_owned)
        .collect()
}

fn has(listing: &[String], path: &str, mode: &str) -> bool {
    listing.iter().any(|line| {
        line.starts_with(mode)
            && line.contains(" root/root ")
            && line.ends_with(&format!(".{path}"))
    })
}

#[test]
fn the_monbridge_package_holds_what_operators_install() {
    let Some(dir) = deb_dir() else { return };
    let deb = dir.join(format!("monbridge_{}_amd64.deb", version()));
    let listing = contents(&deb);
    for (path, mode) in [
        ("/usr/bin/monbridge", "-rwxr-xr-x"),
        ("/usr/bin/pandora_mist", "-rwxr-xr-x"),
        ("/lib/systemd/system/monbridge.service", "-rw-r--r--"),
        ("/etc/monbridge/monbridge.yaml", "-rw-r--r--"),
        ("/usr/share/man/man1/monbridge.1.gz", "-rw-r--r--"),
        ("/usr/share/man/man1/monbridge-serve.1.gz", "-rw-r--r--"),
        ("/usr/share/man/man1/monbridge-trap-send.1.gz", "-rw-r--r--"),
        ("/usr/share/man/man1/pandora_mist.1.gz", "-rw-r--r--"),
        ("/usr/share/man/man5/monbridge.yaml.5.gz", "-rw-r--r--"),
        ("/usr/share/man/man5/monbridge-rules.5.gz", "-rw-r--r--"),
        (
            "/usr/share/bash-completion/completions/monbridge",
            "-rw-r--r--",
        ),
        ("/usr/share/zsh/vendor-completions/_monbridge", "-rw-r--r--"),
        (
            "/usr/share/fish/vendor_completions.d/monbridge.fish",
            "-rw-r--r--",
        ),
        ("/usr/share/monbridge/mibs/PMC-MIB.txt", "-rw-r--r--"),
        ("/usr/share/doc/monbridge/copyright", "-rw-r--r--"),
    ] {
        assert!(
            has(&listing, path, mode),
            "{path} ({mode}) not in:\n{}",
            listing.join("\n")
        );
    }
    let field = |name: &str| run(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name));
    assert_eq!(field("Architecture").trim(), "amd64");
    assert_eq!(field("Depends").trim(), "libc6 (>= 2.17)");
    let conffiles = run(Command::new("dpkg-deb")
        .arg("-I")
        .arg(&deb)
        .arg("conffiles"));
    assert_eq!(conffiles.trim(), "/etc/monbridge/monbridge.yaml");

    // The binaries run on glibc 2.17, as the portable build's check says.
    let work = tempfile::tempdir().expect("temp dir");
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(work.path()));
    for binary in ["monbridge", "pandora_mist"] {
        let bytes = std::fs::read(work.path().join("usr/bin").join(binary)).expect("binary");
        let needed = monbridge::package::elf::glibc_needed(&bytes)
            .expect("ELF")
            .expect("a glibc need");
        assert!(
            needed <= monbridge::package::elf::GlibcVersion::PORTABLE,
            "{binary}: {needed}"
        );
    }
}

#[test]
fn the_fledge_plugin_package_is_laid_out_as_fledge_s_own() {
    let Some(dir) = deb_dir() else { return };
    let deb = dir.join(format!("fledge-notify-monbridge_{}_all.deb", version()));
    let listing = contents(&deb);
    let plugin = "/usr/local/fledge/python/fledge/plugins/notificationDelivery/monbridge";
    for file in ["__init__.py", "monbridge.py", "VERSION.notify.monbridge"] {
        assert!(
            has(&listing, &format!("{plugin}/{file}"), "-rw-r--r--"),
            "{file}: {listing:#?}"
        );
    }
    assert!(
        !listing.iter().any(|line| line.contains("__pycache__")),
        "{listing:#?}"
    );
    let field = |name: &str| run(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name));
    assert_eq!(field("Architecture").trim(), "all");
    assert_eq!(
        field("Depends").trim(),
        "fledge, fledge-service-notification"
    );
}

/// `dpkg -i` into an empty root (its maintainer scripts run outside it, with `DPKG_ROOT`
/// set, and so leave the host's systemd alone), then the installed monbridge runs, checks the
/// installed configuration, and `dpkg --purge` takes everything away again.
#[test]
fn the_packages_install_into_a_clean_root_and_run() {
    let Some(dir) = deb_dir() else { return };
    let root = tempfile::tempdir().expect("temp dir");
    let admin = root.path().join("var/lib/dpkg");
    std::fs::create_dir_all(admin.join("info")).expect("dpkg folders");
    std::fs::create_dir_all(admin.join("updates")).expect("dpkg folders");
    std::fs::write(admin.join("status"), "").expect("dpkg status");
    let dpkg = || {
        let mut command = Command::new("dpkg");
        command
            .arg(format!("--root={}", root.path().display()))
            // The clean root has no libc6 or fledge package to satisfy Depends.
            .args([
                "--force-script-chrootless",
                "--force-depends",
                "--force-not-root",
            ]);
        command
    };
    run(dpkg()
        .arg("-i")
        .arg(dir.join(format!("monbridge_{}_amd64.deb", version())))
        .arg(dir.join(format!("fledge-notify-monbridge_{}_all.deb", version()))));

    let status = run(Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.display()))
        .args(["-W", "-f", "${Package} ${Status}\n"]));
    assert!(
        status.contains("monbridge install ok installed"),
        "{status}"
    );
    assert!(
        status.contains("fledge-notify-monbridge install ok installed"),
        "{status}"
    );

    let installed = root.path().join("usr/bin/monbridge");
    let version_line = run(Command::new(&installed).arg("--version"));
    assert_eq!(version_line.trim(), format!("monbridge {}", version()));
    let checked = run(Command::new(&installed)
        .args(["serve", "--check-config", "--config"])
        .arg(root.path().join("etc/monbridge/monbridge.yaml"))
        .env_remove("MONBRIDGE_RULES"));
    assert!(checked.starts_with("ok: "), "{checked}");
    let plugin = root
        .path()
        .join("usr/local/fledge/python/fledge/plugins/notificationDelivery/monbridge/monbridge.py");
    assert!(plugin.is_file());

    // Python writes __pycache__ beside the plugin; purging takes it away with the rest.
    std::fs::create_dir_all(plugin.with_file_name("__pycache__")).expect("a cache folder");
    run(dpkg().args(["--purge", "fledge-notify-monbridge", "monbridge"]));
    assert!(!installed.exists());
    assert!(!root.path().join("etc/monbridge/monbridge.yaml").exists());
    assert!(!plugin.with_file_name("__pycache__").exists());
}
