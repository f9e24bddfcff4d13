//! Every key outside `[tables]` given a value it must refuse: the error
//! names the key (dotted path) and says why. Defaults and accepted values
//! live in `keys`.

use super::refused_all;

#[test]
fn refused_values_name_their_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "rest_root = \"ftp://x\"\n",
            "remote.rest_root",
            "does not match",
        ),
        (
            "rest_root = \"http://db.example.com/rest/v1\"\n",
            "remote.rest_root",
            "clear text",
        ),
        (
            "api_key_env = \"A\"\napi_key_file = \"k\"\n",
            "remote.api_key_file",
            "only one",
        ),
        (
            "api_key_env = \"MY-KEY\"\n",
            "remote.api_key_env",
            "does not match",
        ),
        (
            "api_key_file = \"\"\n",
            "remote.api_key_file",
            "shorter than 1",
        ),
        ("timeout = \"30\"\n", "remote.timeout", "does not match"),
        ("timeout = \"0s\"\n", "remote.timeout", "longer than zero"),
        (
            "connect_timeout = \"5 fortnights\"\n",
            "remote.connect_timeout",
            "invalid duration",
        ),
        (
            "[sync]\ninterval = \"0ms\"\n",
            "sync.interval",
            "longer than zero",
        ),
        (
            "[sync]\nbatch_size = 0\n",
            "sync.batch_size",
            "less than the minimum of 1",
        ),
        (
            "[sync]\npull_page_size = -5\n",
            "sync.pull_page_size",
            "minimum",
        ),
        ("[sync]\nlease = \"0s\"\n", "sync.lease", "longer than zero"),
        (
            "[sync]\nbusy_timeout = 5\n",
            "sync.busy_timeout",
            "not of type",
        ),
        (
            "[sync]\nwait_for_lock = \"yes\"\n",
            "sync.wait_for_lock",
            "not of type",
        ),
        (
            "[sync]\nmax_replans = 0\n",
            "sync.max_replans",
            "minimum of 1",
        ),
        (
            "[sync]\nkeep_resolved_conflicts = \"5m\"\n",
            "sync.keep_resolved_conflicts",
            "5m is shorter than the minimum of 1h",
        ),
        (
            "[sync]\nkeep_resolved_conflicts = 90\n",
            "sync.keep_resolved_conflicts",
            "not of type",
        ),
        (
            "[sync]\nkeep_resolved_conflicts = \"3 moons\"\n",
            "sync.keep_resolved_conflicts",
            "invalid duration",
        ),
        ("[sync]\nbatchsize = 5\n", "sync.batchsize", "unknown key"),
        (
            "[retry]\nmax_attempts = 0\n",
            "retry.max_attempts",
            "minimum of 1",
        ),
        (
            "[retry]\ninitial_backoff = \"0s\"\n",
            "retry.initial_backoff",
            "longer than zero",
        ),
        (
            "[retry]\nmax_backoff = \"1s\"\ninitial_backoff = \"2s\"\n",
            "retry.max_backoff",
            "shorter than retry.initial_backoff",
        ),
        ("[retry]\njitter = 1.5\n", "retry.jitter", "maximum of 1"),
        ("[retry]\njitter = -0.1\n", "retry.jitter", "minimum of 0"),
        (
            "[retry]\nretry_dead_after = \"never\"\n",
            "retry.retry_dead_after",
            "does not match",
        ),
        (
            "[rate_limit]\nrequests_per_second = 0\n",
            "rate_limit.requests_per_second",
            "less than or equal to the minimum of 0",
        ),
        (
            "[rate_limit]\nburst = 0\n",
            "rate_limit.burst",
            "minimum of 1",
        ),
        (
            "[rate_limit]\nburst = 4294967296\n",
            "rate_limit.burst",
            "too large",
        ),
        (
            "[rate_limit]\nrows_per_second = -5\n",
            "rate_limit.rows_per_second",
            "minimum of 0",
        ),
        (
            "[sync]\nmax_batch_size = 0\n",
            "sync.max_batch_size",
            "minimum of 1",
        ),
        (
            "[sync]\nmax_pull_page_bytes = \"0KiB\"\n",
            "sync.max_pull_page_bytes",
            "more than 0",
        ),
        (
            "[sync]\nanswer_time = \"0s\"\n",
            "sync.answer_time",
            "longer than zero",
        ),
        (
            "[rate_limit]\nmax_retry_after = \"0s\"\n",
            "rate_limit.max_retry_after",
            "longer than zero",
        ),
        (
            "[rate_limit]\nmax_retry_after = 3600\n",
            "rate_limit.max_retry_after",
            "not of type",
        ),
        (
            "[alerts]\nmin_requests = 0\n",
            "alerts.min_requests",
            "minimum of 1",
        ),
        (
            "[alerts]\nmax_error_rate = 2\n",
            "alerts.max_error_rate",
            "maximum of 1",
        ),
        (
            "[alerts]\nerror_window = \"0s\"\n",
            "alerts.error_window",
            "longer than zero",
        ),
        (
            "[alerts]\nstuck_after = \"\"\n",
            "alerts.stuck_after",
            "does not match",
        ),
        (
            "[alerts]\nmax_last_sync_age = \"0h\"\n",
            "alerts.max_last_sync_age",
            "longer than zero",
        ),
        (
            "[alerts]\nmax_pull_lag = \"0s\"\n",
            "alerts.max_pull_lag",
            "longer than zero",
        ),
        (
            "[alerts]\nnotify_command = []\n",
            "alerts.notify_command",
            "less than 1 item",
        ),
        (
            "[alerts]\nnotify_command = \"notify --json\"\n",
            "alerts.notify_command",
            "not of type",
        ),
        (
            "[alerts]\nnotify_command = [\"\"]\n",
            "alerts.notify_command[0]",
            "shorter than 1",
        ),
        ("[ops]\nlisten = \"9464\"\n", "ops.listen", "not host:port"),
        (
            "[ops]\nlog_format = \"xml\"\n",
            "ops.log_format",
            "unknown value \"xml\" (expected text | json)",
        ),
        (
            "[ops]\napi_token_env = \"T\"\napi_token_file = \"t\"\n",
            "ops.api_token_file",
            "only one of",
        ),
        (
            "[ops]\nhistory_keep = \"8d\"\n",
            "ops.history_keep",
            "at most 7d",
        ),
        (
            "[ops]\nhistory_keep = \"0s\"\n",
            "ops.history_keep",
            "longer than zero",
        ),
        (
            "[ops]\nsse_keepalive = \"0s\"\n",
            "ops.sse_keepalive",
            "longer than zero",
        ),
        (
            "[ops]\nevent_buffer = 4\n",
            "ops.event_buffer",
            "minimum of 16",
        ),
        (
            "[plugin_limits]\nfuel = 0\n",
            "plugin_limits.fuel",
            "minimum of 1",
        ),
        (
            "[plugin_limits]\nfuel_per_byte = -1\n",
            "plugin_limits.fuel_per_byte",
            "minimum of 0",
        ),
        (
            "[plugin_limits]\ntimeout = \"0s\"\n",
            "plugin_limits.timeout",
            "longer than zero",
        ),
        (
            "[plugin_limits]\nmemory = \"1KiB\"\n",
            "plugin_limits.memory",
            "64KiB",
        ),
        (
            "[plugin_limits]\nmemory = \"8GiB\"\n",
            "plugin_limits.memory",
            "4GiB",
        ),
        (
            "[plugin_limits]\nmemory = \"lots\"\n",
            "plugin_limits.memory",
            "oneOf",
        ),
        (
            "[plugin_limits]\nmax_input = 0\n",
            "plugin_limits.max_input",
            "at least 1 byte",
        ),
        (
            "[plugin_limits]\nmax_output = \"0B\"\n",
            "plugin_limits.max_output",
            "at least 1 byte",
        ),
        (
            "[plugin_limits]\nmax_log = \"8 kb\"\n",
            "plugin_limits.max_log",
            "oneOf",
        ),
        (
            "[plugin_limits]\nfuel_limit = 5\n",
            "plugin_limits.fuel_limit",
            "unknown key",
        ),
    ];
    // Keys of [remote] land in MIN's [remote] section.
    refused_all(cases);
}
