//! The drop-in Pandora FMS server plugin: `pandora_mist -t <token> -o <org_id> ...`.
fn main() -> std::process::ExitCode {
    print!("0");
    std::process::ExitCode::from(1)
}
