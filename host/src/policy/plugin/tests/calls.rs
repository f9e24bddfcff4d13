//! Calls through the instance pool: more at once than it has slots, and a
//! failed call that still reports what the plugin logged.

use super::{ROW, load};
use crate::config::PluginLimits;
use crate::policy::{Level, PolicyError, Sandbox};

#[test]
fn more_calls_at_once_than_pool_slots_all_answer() {
    let sandbox = Sandbox::new().unwrap();
    let plugin = load(&sandbox, "stateful").unwrap();
    let limits = PluginLimits::default();
    std::thread::scope(|scope| {
        let calls: Vec<_> = (0..100)
            .map(|_| scope.spawn(|| plugin.validate(&limits, "t", ROW).map(|r| r.value)))
            .collect();
        for call in calls {
            assert_eq!(call.join().unwrap(), Ok(Ok(())));
        }
    });
}

#[test]
fn a_failed_call_keeps_what_the_plugin_logged() {
    let sandbox = Sandbox::new().unwrap();
    let plugin = load(&sandbox, "log_flood").unwrap();
    let limits = PluginLimits {
        fuel: 20_000,
        fuel_per_byte: 0,
        ..PluginLimits::default()
    };
    let err = plugin.validate(&limits, "products", ROW).unwrap_err();
    assert!(
        matches!(err.error, PolicyError::OutOfFuel { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.log.first(),
        Some(&(Level::Info, "checked".to_string())),
        "{err:?}"
    );
}
