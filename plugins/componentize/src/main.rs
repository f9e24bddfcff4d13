//! The `ebb-componentize IN.wasm OUT.wasm` command: reads a plugin's core
//! module, writes it as a component, and exits non-zero (with the reason)
//! when it cannot be encoded or imports anything but the host log.
//!
//! Owns argument handling and file I/O only; the work is in the library.
//! Called by `scripts/build-plugins.sh`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: ebb-componentize IN.wasm OUT.wasm");
        return ExitCode::from(2);
    };
    match run(PathBuf::from(input), PathBuf::from(output)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ebb-componentize: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Reads `input`, componentizes it and writes `output` (via a temporary
/// file in the same directory, so a failed run never leaves a half file).
fn run(input: PathBuf, output: PathBuf) -> Result<(), String> {
    let module =
        std::fs::read(&input).map_err(|e| format!("cannot read {}: {e}", input.display()))?;
    let component =
        ebb_componentize::componentize(&module).map_err(|e| format!("{}: {e}", input.display()))?;
    let mut partial = output.clone().into_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, &component)
        .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    std::fs::rename(&partial, &output)
        .map_err(|e| format!("cannot write {}: {e}", output.display()))
}
