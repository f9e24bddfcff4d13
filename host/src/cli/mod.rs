//! The `ebb` command (placeholder until the CLI lands).
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
