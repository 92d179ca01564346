//! `monbridge package pandora`: the `mist-plugin.pspz2` is registered the way the Pandora
//! console does it (PHP: unzip with ZipArchive, `parse_ini_file($file, true)`, the macros of
//! a pspz2), its fields are filled like the module form, and the plugin server's expansion
//! (Perl, as `PluginServer.pm`) runs the command line against the Mist mock.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::mist_mock::{MistMock, ORG, Query, TOKEN, files_in, run_bounded};
use crate::common::{bin, fixture, snapshot_settings};

const CHILD_LIMIT: Duration = Duration::from_secs(120);

/// The `pandora_mist` to package: this build's, or the one `MONBRIDGE_PACKAGE_BINARY`
/// names (CI sets it to the portable build, so the shipped binary runs this test too).
fn plugin_binary() -> PathBuf {
    std::env::var_os("MONBRIDGE_PACKAGE_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| bin("pandora_mist").to_owned())
}

/// `monbridge package pandora --out <dir>/<name> --binary <pandora_mist>`. This build's
/// `pandora_mist` links the build machine's glibc, so it is packaged with the ceiling
/// raised; the portable one (CI) is packaged with the default ceiling, 2.17.
fn package(dir: &Path, name: &str) -> crate::common::mist_mock::Finished {
    let mut command = Command::new(bin("monbridge"));
    command
        .args(["package", "pandora", "--out"])
        .arg(dir.join(name))
        .arg("--binary")
        .arg(plugin_binary());
    if std::env::var_os("MONBRIDGE_PACKAGE_BINARY").is_none() {
        command.args(["--max-glibc", "2.99"]);
    }
    run_bounded(&mut command, CHILD_LIMIT)
}

/// The highest `GLIBC_` version `objdump -T` lists for a binary: what scripts/check-glibc reads.
fn objdump_glibc(binary: &Path) -> String {
    let output = crate::common::peers::output(Command::new("objdump").arg("-T").arg(binary));
    assert!(output.status.success(), "objdump -T {}", binary.display());
    let text = String::from_utf8_lossy(&output.stdout);
    let mut versions: Vec<(u32, u32)> = text
        .split_whitespace()
        .filter_map(|word| word.trim_matches(['(', ')']).strip_prefix("GLIBC_"))
        .filter_map(|number| {
            let mut parts = number.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next()??))
        })
        .collect();
    versions.sort_unstable();
    let (major, minor) = versions.last().copied().expect("a GLIBC_ version");
    format!("{major}.{minor}")
}

#[test]
fn the_glibc_need_is_read_as_objdump_reads_it() {
    for binary in [bin("pandora_mist").to_owned(), plugin_binary()] {
        let bytes = std::fs::read(&binary).expect("the binary");
        let needed = monbridge::package::elf::glibc_needed(&bytes)
            .expect("an ELF executable")
            .expect("a GLIBC_ need");
        assert_eq!(
            needed.to_string(),
            objdump_glibc(&binary),
            "{}",
            binary.display()
        );
    }
}

#[test]
fn a_binary_for_a_newer_glibc_is_refused_naming_the_portable_build() {
    let binary = bin("pandora_mist");
    let needed = objdump_glibc(binary);
    let parsed: monbridge::package::elf::GlibcVersion = needed.parse().expect("a version");
    if parsed <= monbridge::package::elf::GlibcVersion::PORTABLE {
        // This build already is portable: nothing to refuse.
        return;
    }
    let work = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(bin("monbridge"));
    command
        .args(["package", "pandora", "--out"])
        .arg(work.path().join("mist-plugin.pspz2"))
        .arg("--binary")
        .arg(binary);
    let made = run_bounded(&mut command, CHILD_LIMIT);
    assert_eq!(made.code, Some(1), "{}", made.stderr);
    assert!(
        made.stderr
            .contains(&format!("needs glibc {needed}, newer than 2.17"))
            && made.stderr.contains("scripts/build-portable"),
        "{}",
        made.stderr
    );
    assert!(files_in(work.path()).is_empty());
}

/// Registers the package with the console's steps and fills the fields with `values`.
fn register(package: &Path, attachment: &Path, values: &[&str]) -> Value {
    let mut command = Command::new("php");
    command
        .arg(fixture("pandora/register_plugin.php"))
        .arg(package)
        .arg(attachment)
        .args(values);
    let run = run_bounded(&mut command, CHILD_LIMIT);
    assert_eq!(run.code, Some(0), "registration failed: {}", run.stderr);
    serde_json::from_str(&run.stdout).expect("the registration prints JSON")
}

#[test]
fn the_registered_package_runs_against_the_mock_and_prints_1() {
    let work = tempfile::tempdir().expect("temp dir");
    let made = package(work.path(), "mist-plugin.pspz2");
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    let package_path = work.path().join("mist-plugin.pspz2");
    assert_eq!(made.stdout.trim(), package_path.display().to_string());
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&package_path)
            .expect("package")
            .permissions()
            .mode();
        assert_eq!(mode & 0o044, 0o044, "others can read the package: {mode:o}");
    }

    let mock = MistMock::start();
    let mut mocks = vec![mock.serve("sites.json", Query::AnyPaging)];
    mocks.extend(mock.site_devices(Query::AnyPaging));
    let spool = tempfile::tempdir().expect("spool");
    let attachment = work.path().join("attachment");
    let spool_text = spool.path().display().to_string();
    let api_url = mock.url();
    let registration = register(
        &package_path,
        &attachment,
        &[TOKEN, ORG, "Mist", "MIST", &spool_text, &api_url],
    );

    // What the console stored, as its forms show it: the plugin, its fields and where the
    // executable went.
    let shown = &registration["shown"];
    assert_eq!(shown["name"], "Mist Plugin");
    assert_eq!(shown["max_timeout"], "20");
    assert_eq!(shown["plugin_type"], "0");
    let executable = attachment.join("plugin/pandora_mist");
    assert_eq!(shown["execute"], executable.display().to_string());
    let macros = &shown["macros"];
    let labels: Vec<(&str, &str)> = (1..=6)
        .map(|n| {
            let field = &macros[n.to_string()];
            (
                field["desc"].as_str().expect("desc"),
                field["hide"].as_str().expect("hide"),
            )
        })
        .collect();
    assert_eq!(
        labels,
        [
            ("apitoken", "1"),
            ("organization ID", "0"),
            ("group", "0"),
            ("prefix", "0"),
            ("data dir", "0"),
            ("API host", "0"),
        ]
    );
    assert_eq!(macros["1"]["value"], "");
    assert_eq!(macros["3"]["value"], "Mist");
    assert_eq!(macros["5"]["value"], "/var/spool/pandora/data_in");
    assert_eq!(macros["6"]["value"], "https://api.mist.com");

    // The plugin server's run: the module value is 1 and the spool holds one agent per site.
    let registration_file = work.path().join("registration.json");
    std::fs::write(&registration_file, registration.to_string()).expect("write registration");
    let mut server = Command::new("perl");
    server
        .arg(fixture("pandora/plugin_server.pl"))
        .arg(&registration_file)
        .arg("20")
        .env_remove("MIST_API_TOKEN")
        .env_remove("MONBRIDGE_RULES")
        .env("TZ", "UTC");
    let run = run_bounded(&mut server, CHILD_LIMIT);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let result: Value = serde_json::from_str(&run.stdout).expect("the plugin server prints JSON");
    assert_eq!(result["data"], "1", "plugin stderr: {}", run.stderr);
    assert_eq!(result["exit"], 0);
    for served in &mocks {
        served.assert_calls(1);
    }
    assert_eq!(
        files_in(spool.path()).len(),
        4,
        "one agent per fixture site"
    );
    assert!(
        !run.stderr.contains(TOKEN),
        "the token leaked: {}",
        run.stderr
    );
}

#[test]
fn a_wrong_token_in_the_form_gives_0() {
    let work = tempfile::tempdir().expect("temp dir");
    let made = package(work.path(), "mist-plugin.pspz2");
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    let mock = MistMock::start();
    let _refused = mock.manifest_error("error_401.json");
    let spool = tempfile::tempdir().expect("spool");
    let spool_text = spool.path().display().to_string();
    let api_url = mock.url();
    let registration = register(
        &work.path().join("mist-plugin.pspz2"),
        &work.path().join("attachment"),
        &["not-the-token", ORG, "Mist", "MIST", &spool_text, &api_url],
    );
    let registration_file = work.path().join("registration.json");
    std::fs::write(&registration_file, registration.to_string()).expect("write registration");
    let mut server = Command::new("perl");
    server
        .arg(fixture("pandora/plugin_server.pl"))
        .arg(&registration_file)
        .arg("20")
        .env_remove("MIST_API_TOKEN");
    let run = run_bounded(&mut server, CHILD_LIMIT);
    let result: Value = serde_json::from_str(&run.stdout).expect("the plugin server prints JSON");
    assert_eq!(result["data"], "0", "plugin stderr: {}", run.stderr);
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert!(files_in(spool.path()).is_empty());
}

#[test]
fn the_definition_is_what_php_reads() {
    let work = tempfile::tempdir().expect("temp dir");
    let made = package(work.path(), "mist-plugin.pspz2");
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    let registration = register(
        &work.path().join("mist-plugin.pspz2"),
        &work.path().join("attachment"),
        &[],
    );
    // Every value PHP parsed is the text written between the quotes: no keyword or
    // constant was rewritten.
    let ini = &registration["ini"];
    let definition = &ini["plugin_definition"];
    assert_eq!(
        definition["parameters"],
        "-t '_field1_' -o '_field2_' -g '_field3_' -p '_field4_' --data_dir '_field5_' --api-url '_field6_'"
    );
    assert_eq!(definition["total_macros_provided"], "6");
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(
            "package_pandora_ini_as_php_reads_it",
            serde_json::to_string_pretty(ini).expect("JSON")
        )
    });
}

#[test]
fn a_package_name_without_pspz2_is_refused_and_nothing_is_written() {
    let work = tempfile::tempdir().expect("temp dir");
    let made = package(work.path(), "mist-plugin.zip");
    assert_eq!(made.code, Some(2));
    assert!(
        made.stderr.contains("must end in .pspz2"),
        "{}",
        made.stderr
    );
    assert!(files_in(work.path()).is_empty());
}

/// Without --binary, a `monbridge` in `target/release/` beside a native `pandora_mist` ships
/// the portable build's (`target/portable/pandora_mist`) instead. Needs a portable build:
/// CI names it in `MONBRIDGE_PACKAGE_BINARY`; elsewhere `target/portable/` is used if built.
#[test]
fn by_default_the_portable_build_is_shipped_over_a_native_one() {
    let portable = std::env::var_os("MONBRIDGE_PACKAGE_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::common::repo_root().join("target/portable/pandora_mist"));
    if !portable.is_file() {
        eprintln!("skipped: no portable pandora_mist (scripts/build-portable)");
        return;
    }
    let native = bin("pandora_mist");
    let tree = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(tree.path().join("release")).expect("release/");
    std::fs::create_dir_all(tree.path().join("portable")).expect("portable/");
    let monbridge = tree.path().join("release/monbridge");
    std::fs::copy(bin("monbridge"), &monbridge).expect("copy monbridge");
    std::fs::copy(native, tree.path().join("release/pandora_mist")).expect("copy native");
    std::fs::copy(&portable, tree.path().join("portable/pandora_mist")).expect("copy portable");

    let out = tree.path().join("mist-plugin.pspz2");
    let mut command = Command::new(&monbridge);
    command.args(["package", "pandora", "--out"]).arg(&out);
    let made = run_bounded(&mut command, CHILD_LIMIT);
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).expect("package")).expect("a zip");
    let shipped = zip
        .by_name("pandora_mist")
        .expect("pandora_mist in the package")
        .size();
    let portable_size = std::fs::metadata(&portable).expect("portable").len();
    assert_eq!(shipped, portable_size);
    assert_ne!(shipped, std::fs::metadata(native).expect("native").len());
}
