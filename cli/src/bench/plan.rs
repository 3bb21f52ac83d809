//! `netraven bench`'s options and the sizes of a run (full or `--quick`).

/// Every part, the default.
pub(super) const ALL_PARTS: &str = "jobs,resolution,pipes,logins,memory,hostile";

/// `netraven bench` options.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// A smaller run, under a minute.
    #[arg(long)]
    pub quick: bool,
    /// Worker processes in the job runs.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Devices each worker handles at once (the worker's default).
    #[arg(long, default_value_t = netraven_shared::config::WorkerSettings::default().max_in_flight)]
    pub max_in_flight: u16,
    /// Where the JSON report goes.
    #[arg(long, default_value = "bench/results")]
    pub out: std::path::PathBuf,
    /// Which parts to run: jobs (with the baseline), resolution, pipes (ingest and
    /// publishing), logins (key logins against password logins), memory, hostile
    /// (healthy devices among faulty ones); and, only when
    /// named, big-job (one job over a whole large fleet: the dispatcher's peak memory and
    /// rate, see --devices) and lanes (a 10-device job's start and end on an idle fleet and
    /// while a job of the baseline's size runs: 10,000 devices, --quick 2,000) and api
    /// (`GET /api/jobs/{id}` of a 50,000-device job and a device's diff, over HTTP) and
    /// latency (see --latency).
    #[arg(long, value_delimiter = ',', default_value = ALL_PARTS)]
    pub parts: Vec<String>,
    /// Only the latency part: a fleet of devices that answer like a real network (40 ms
    /// round trip, 300 ms AAA, 1 s for a 20 KB configuration; 50,000 devices, --quick
    /// 5,000) backed up with 1, 2 and 4 workers, each job against its slot and CPU bounds.
    #[arg(long, conflicts_with = "parts")]
    pub latency: bool,
    /// Job sizes to run instead of the plan's (1,000, 10,000 and 50,000; --quick: 500
    /// and 2,000). The baselines and the second run go with the 10,000-device job
    /// (--quick: 2,000).
    #[arg(long, value_delimiter = ',')]
    pub jobs: Vec<usize>,
    /// Fleet sizes of the big-job part instead of the plan's (100,000 and 1,000,000;
    /// --quick: 10,000 and 100,000).
    #[arg(long, value_delimiter = ',')]
    pub devices: Vec<usize>,
}

/// Sizes of one run.
pub(super) struct Plan {
    pub(super) jobs: Vec<usize>,
    pub(super) baseline_at: usize,
    pub(super) resolution: Vec<i64>,
    pub(super) ingest: i64,
    pub(super) publish: usize,
    pub(super) memory_in_flight: u16,
    pub(super) hostile_rounds: usize,
    /// Fleet sizes of the big-job part.
    pub(super) big_jobs: Vec<usize>,
    /// Rounds of the jobs at the baseline's size, each between two baselines.
    pub(super) rounds: usize,
    /// Devices of the latency part's fleet.
    pub(super) latency_devices: usize,
    /// Devices logged in to per way in the logins part.
    pub(super) logins: usize,
}

impl Plan {
    pub(super) fn of(quick: bool) -> Plan {
        if quick {
            Plan {
                jobs: vec![500, 2_000],
                baseline_at: 2_000,
                resolution: vec![1_000, 10_000],
                ingest: 10_000,
                publish: 10_000,
                memory_in_flight: 300,
                hostile_rounds: 1,
                big_jobs: vec![10_000, 100_000],
                rounds: 1,
                logins: 500,
                latency_devices: 5_000,
            }
        } else {
            Plan {
                // 50,000 devices run in several simulator processes (bench::fleet).
                jobs: vec![1_000, 10_000, 50_000],
                baseline_at: 10_000,
                resolution: vec![1_000, 10_000, 100_000],
                ingest: 50_000,
                publish: 100_000,
                memory_in_flight: 5_000,
                hostile_rounds: 5,
                big_jobs: vec![100_000, 1_000_000],
                rounds: 3,
                logins: 2_000,
                latency_devices: 50_000,
            }
        }
    }
}
