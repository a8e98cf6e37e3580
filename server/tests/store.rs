//! The store boundary against SQLite and a real PostgreSQL: the same calls, the same answers.
mod common;

use server::store::{Registration, SampleRow, Store, StoreError};

/// An agent to register, named `label`.
fn new_agent(agent_id: String, label: &str) -> server::store::NewAgent {
    server::store::NewAgent {
        agent_id,
        label: label.to_owned(),
        hostname: label.to_owned(),
        public_key: String::new(),
        runtime: app::Runtime::Bare,
        os: "linux".into(),
        arch: "x86_64".into(),
        agent_version: "0".into(),
    }
}

async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("v.db").display());
    (Store::open(&url).await.unwrap(), dir)
}

fn sample(ts_ms: i64, cpu: f64, mem_used: i64) -> SampleRow {
    SampleRow {
        agent_id: None,
        ts_ms,
        cpu_pct: cpu,
        load: [0.5, 0.4, 0.3],
        mem_total: 1000,
        mem_used,
        swap_total: 0,
        swap_used: 0,
        disk_total: 4000,
        disk_used: 1000,
        net_rx_bps: 10.0,
        net_tx_bps: 20.0,
        series: vec![
            series(app::SeriesFamily::CpuCore, "0", cpu),
            series(app::SeriesFamily::CpuCore, "1", cpu / 2.0),
            series(app::SeriesFamily::Filesystem, "/", 40.0),
        ],
    }
}

fn series(family: app::SeriesFamily, label: &str, value: f64) -> server::store::SeriesValue {
    server::store::SeriesValue {
        family,
        label: label.to_owned(),
        value,
    }
}

async fn behaves(store: Store) {
    // Setup works once; a second first user is a conflict.
    assert!(!store.has_users().await.unwrap());
    let admin = store.create_first_user("admin", "hash-a").await.unwrap();
    assert!(matches!(
        store.create_first_user("other", "hash-b").await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store.create_user("admin", "hash-c", app::Role::Admin).await,
        Err(StoreError::Conflict)
    ));
    let robot = store
        .create_user("robot", "hash-r", app::Role::Viewer)
        .await
        .unwrap();
    assert_ne!(admin, robot);
    assert_eq!(
        store
            .user_by_name("robot")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "hash-r"
    );
    assert!(store.user_by_name("ghost").await.unwrap().is_none());

    // Sessions: live ones resolve, expired ones do not, and purge removes them.
    let now = proto::clock::now_s();
    store
        .create_session(admin, "live-hash", "csrf-1", now + 3600)
        .await
        .unwrap();
    store
        .create_session(admin, "old-hash", "csrf-2", now - 1)
        .await
        .unwrap();
    let user = store.session_user("live-hash").await.unwrap().unwrap();
    assert_eq!(
        (user.username.as_str(), user.csrf_token.as_str()),
        ("admin", "csrf-1")
    );
    assert!(store.session_user("old-hash").await.unwrap().is_none());
    assert_eq!(store.purge_expired_sessions().await.unwrap(), 1);
    store.delete_session("live-hash").await.unwrap();
    assert!(store.session_user("live-hash").await.unwrap().is_none());

    // API tokens belong to their owner.
    let token = store
        .create_api_token(admin, "ci", "tok-hash", "vtg_api_abcd…wxyz", None)
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_api_token(robot, "dup", "tok-hash", "x", None)
            .await,
        Err(StoreError::Conflict)
    ));
    let (found, owner) = store.api_token_by_hash("tok-hash").await.unwrap().unwrap();
    assert_eq!(
        (found.api_token_id, owner.username.as_str()),
        (token.api_token_id, "admin")
    );
    assert!(found.last_used_at.is_none());
    store.touch_api_token(token.api_token_id).await.unwrap();
    assert!(
        store.list_api_tokens(admin).await.unwrap()[0]
            .last_used_at
            .is_some()
    );
    assert!(store.list_api_tokens(robot).await.unwrap().is_empty());
    assert!(
        !store
            .delete_api_token(robot, token.api_token_id)
            .await
            .unwrap(),
        "not robot's token"
    );
    assert!(
        store
            .delete_api_token(admin, token.api_token_id)
            .await
            .unwrap()
    );
    assert!(store.api_token_by_hash("tok-hash").await.unwrap().is_none());

    // History buckets: two per minute here, with exact avg/min/max.
    for (i, (cpu, mem)) in [(10.0, 100), (30.0, 300), (50.0, 500), (70.0, 700)]
        .into_iter()
        .enumerate()
    {
        store
            .insert_host_sample(&sample(60_000 + i as i64 * 30_000, cpu, mem))
            .await
            .unwrap();
    }
    // Steps of a minute and more read the rollups.
    store.roll_up().await.unwrap();
    let cpu = store
        .history(None, app::Metric::Cpu, 0, 200_000, 60_000)
        .await
        .unwrap();
    assert_eq!(cpu.len(), 2);
    assert_eq!(
        (cpu[0].start_ms, cpu[0].avg, cpu[0].min, cpu[0].max),
        (60_000, 20.0, 10.0, 30.0)
    );
    assert_eq!(
        (cpu[1].start_ms, cpu[1].avg, cpu[1].min, cpu[1].max),
        (120_000, 60.0, 50.0, 70.0)
    );
    let memory = store
        .history(None, app::Metric::Memory, 0, 200_000, 120_000)
        .await
        .unwrap();
    assert_eq!(memory.len(), 2);
    assert_eq!((memory[0].avg, memory[1].avg), (20.0, 60.0));
    let disk = store
        .history(None, app::Metric::Disk, 0, 200_000, 200_000)
        .await
        .unwrap();
    assert_eq!((disk[0].avg, disk[0].max), (25.0, 25.0));
    // The range end is exclusive and other hosts are not mixed in.
    assert_eq!(
        store
            .history(None, app::Metric::NetRx, 0, 60_000, 60_000)
            .await
            .unwrap()
            .len(),
        0
    );
    assert!(
        store
            .history(Some("some-agent"), app::Metric::Cpu, 0, 200_000, 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.agent_names("some-agent").await.unwrap().is_none());
    // Retention removes raw history an hour at a time: the first hour (samples at 60–150 s)
    // goes once all of it is older than 120 s, not a millisecond before.
    let keep_all = i64::MAX / 4;
    assert_eq!(
        store
            .apply_retention(3_719_999, 120_000, keep_all, keep_all)
            .await
            .unwrap(),
        [0, 0, 0]
    );
    assert_eq!(
        store
            .apply_retention(3_720_000, 120_000, keep_all, keep_all)
            .await
            .unwrap(),
        [2, 0, 0],
        "the hour's raw chunk of totals and its chunk of labelled series"
    );
    assert!(store.raw_sample_times(None).await.unwrap().is_empty());
    store.ping().await.unwrap();
}

#[tokio::test]
async fn sqlite_store() {
    let (store, _dir) = sqlite().await;
    behaves(store).await;
}

#[tokio::test]
async fn postgres_store() {
    let Some(url) = common::postgres_database().await else {
        return;
    };
    behaves(Store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn reopening_keeps_data_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("v.db").display());
    let store = Store::open(&url).await.unwrap();
    store.create_first_user("admin", "h").await.unwrap();
    store.close().await;
    let store = Store::open(&url).await.unwrap();
    assert!(store.has_users().await.unwrap());
}

#[tokio::test]
async fn unreachable_postgres_is_a_clear_error() {
    let err = Store::open("postgres://nobody@127.0.0.1:1/none")
        .await
        .err()
        .unwrap();
    assert!(
        format!("{err:#}").contains("cannot open the Postgres store"),
        "{err:#}"
    );
}

#[tokio::test]
async fn concurrent_enrollments_do_not_trip_over_sqlite_locks() {
    let (store, _dir) = sqlite().await;
    let user = store.create_first_user("admin", "h").await.unwrap();
    for i in 0..8 {
        store
            .create_enrollment_token(
                &format!("hash-{i}"),
                "hint",
                user,
                proto::clock::now_s() + 3600,
                Some(1),
            )
            .await
            .unwrap();
    }
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let agent = new_agent(
                    format!("00000000-0000-4000-8000-00000000000{i}"),
                    &format!("host-{i}"),
                );
                store.register_agent(&format!("hash-{i}"), &agent).await
            })
        })
        .collect();
    for task in tasks {
        assert!(
            matches!(
                task.await.unwrap().unwrap(),
                Registration::Registered { .. }
            ),
            "every enrollment commits"
        );
    }
    assert_eq!(store.list_agents().await.unwrap().len(), 8);
    // A token works once.
    let again = new_agent("00000000-0000-4000-8000-000000000099".into(), "x");
    assert_eq!(
        store.register_agent("hash-0", &again).await.unwrap(),
        Registration::UsedUp { max_uses: 1 }
    );
}

async fn agents(store: &Store, n: usize) -> Vec<String> {
    let user = store.create_first_user("admin", "h").await.unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let hash = format!("enroll-{i}");
        store
            .create_enrollment_token(&hash, "hint", user, proto::clock::now_s() + 3600, Some(1))
            .await
            .unwrap();
        let id = format!("00000000-0000-4000-8000-0000000001{i:02}");
        let agent = new_agent(id.clone(), &id);
        assert!(matches!(
            store.register_agent(&hash, &agent).await.unwrap(),
            Registration::Registered { .. }
        ));
        ids.push(id);
    }
    ids
}

fn batch(agent_id: &str, last_seq: u64, first_seq: u64, n: usize) -> server::store::AgentBatch {
    let items = (0..n)
        .map(|i| {
            server::store::BatchItem::Host(SampleRow {
                agent_id: Some(agent_id.into()),
                ..sample(i as i64, 1.0, 1)
            })
        })
        .collect();
    server::store::AgentBatch {
        agent_id: agent_id.to_owned(),
        last_seq,
        first_seq,
        items,
        spool: Default::default(),
        known_dropped: 0,
    }
}

#[tokio::test]
async fn many_agents_batches_commit_together_and_refusals_stay_local() {
    let (store, _dir) = sqlite().await;
    let ids = agents(&store, 3).await;
    let results = store
        .commit_batches(&[
            batch(&ids[0], 0, 1, 5),
            batch(&ids[1], 0, 3, 2),
            batch(&ids[2], 0, 1, 4),
        ])
        .await
        .unwrap();
    assert_eq!(results[0].as_ref().unwrap(), &5);
    assert!(
        matches!(results[1], Err(server::store::IngestError::Gap { .. })),
        "a gap is refused"
    );
    assert_eq!(results[2].as_ref().unwrap(), &4);
    // Duplicates (at or below the position) are skipped; a stale position is superseded.
    let again = store
        .commit_batches(&[batch(&ids[0], 5, 1, 5), batch(&ids[2], 2, 3, 3)])
        .await
        .unwrap();
    assert_eq!(again[0].as_ref().unwrap(), &5);
    assert!(matches!(
        again[1],
        Err(server::store::IngestError::Superseded)
    ));
    let stored = store
        .history(Some(&ids[0]), app::Metric::Cpu, 0, 1_000_000, 1)
        .await
        .unwrap();
    assert_eq!(stored.len(), 5, "five samples, once each");
}

#[tokio::test]
async fn a_full_writer_queue_asks_streams_to_back_off() {
    let (store, dir) = sqlite().await;
    let ids = agents(&store, 1).await;
    // Another process holds the write lock: the writer's transaction waits, its queue fills.
    let url = format!("sqlite://{}", dir.path().join("v.db").display());
    let mut blocker = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::raw_sql("begin immediate")
        .execute(&mut blocker)
        .await
        .unwrap();
    let writer = server::ingest::BatchWriter::start(store.clone(), Default::default(), 2, 1);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let writer = writer.clone();
            let id = ids[0].clone();
            tokio::spawn(async move { writer.commit(batch(&id, i, i + 1, 1)).await })
        })
        .collect();
    // Past the writer's patience the waiting streams are told to back off.
    tokio::time::sleep(server::ingest::QUEUE_WAIT + std::time::Duration::from_millis(300)).await;
    sqlx::raw_sql("rollback")
        .execute(&mut blocker)
        .await
        .unwrap();
    let mut overloaded = 0;
    for task in tasks {
        if let Err(server::store::IngestError::Overloaded) = task.await.unwrap() {
            overloaded += 1;
        }
    }
    assert!(
        overloaded >= 5,
        "with room for 2 (+1 in the writer), most of 8 are told to back off: {overloaded}"
    );
}

async fn rollups_behave(store: Store) {
    // Local samples every 10 s over two hours, CPU rising 0.1 per sample; memory constant.
    for i in 0..720i64 {
        store
            .insert_host_sample(&sample(i * 10_000, i as f64 / 10.0, 250))
            .await
            .unwrap();
    }
    assert_eq!(store.roll_up().await.unwrap(), 720);
    assert_eq!(store.roll_up().await.unwrap(), 0, "nothing new");
    let raw = store
        .history(None, app::Metric::Cpu, 0, 7_200_000, 10_000)
        .await
        .unwrap();
    let minute = store
        .history(None, app::Metric::Cpu, 0, 7_200_000, 60_000)
        .await
        .unwrap();
    let hour = store
        .history(None, app::Metric::Cpu, 0, 7_200_000, 3_600_000)
        .await
        .unwrap();
    assert_eq!((raw.len(), minute.len(), hour.len()), (720, 120, 2));
    // The first minute holds samples 0..6: mean 0.25, min 0, max 0.5.
    assert!(
        (minute[0].avg - 0.25).abs() < 1e-9
            && minute[0].min == 0.0
            && (minute[0].max - 0.5).abs() < 1e-9,
        "{:?}",
        minute[0]
    );
    // The first hour holds samples 0..360: mean 17.95, extremes 0 and 35.9.
    assert!((hour[0].avg - 17.95).abs() < 1e-9, "{:?}", hour[0]);
    assert!((hour[1].max - 71.9).abs() < 1e-9, "{:?}", hour[1]);
    // Every sample is kept, one raw chunk per finished hour.
    assert_eq!(store.raw_sample_times(None).await.unwrap().len(), 720);
    assert_eq!(store.pending_chunks().await.unwrap(), 0);
    let memory = store
        .history(None, app::Metric::Memory, 0, 7_200_000, 3_600_000)
        .await
        .unwrap();
    assert!((memory[0].avg - 25.0).abs() < 1e-9);

    // The labelled series take the same layers: per core, per file system.
    use app::SeriesFamily as F;
    let families = [F::CpuCore, F::Filesystem, F::Swap];
    let read = |step: i64| {
        let store = &store;
        async move {
            store
                .series_history(None, &families, 0, 7_200_000, step)
                .await
                .unwrap()
        }
    };
    let minute = read(60_000).await;
    assert_eq!(minute.len(), 3, "every family asked for is answered");
    let (family, cores) = &minute[0];
    assert_eq!(*family, F::CpuCore);
    let labels: Vec<&str> = cores.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, vec!["0", "1"]);
    assert_eq!(cores[0].1.len(), 120);
    // Series rollups keep means to a hundredth of the unit.
    assert!(
        (cores[1].1[0].avg - 0.125).abs() < 0.006,
        "{:?}",
        cores[1].1[0]
    );
    assert!((minute[1].1[0].1[0].avg - 40.0).abs() < 1e-9);
    assert!(minute[2].1.is_empty(), "no swap on this host");
    let hour = read(3_600_000).await;
    assert_eq!(hour[0].1[0].1.len(), 2);
    assert!(
        (hour[0].1[0].1[0].avg - 17.95).abs() <= 0.01,
        "{:?}",
        hour[0].1[0].1[0]
    );
    assert!((hour[0].1[0].1[1].max - 71.9).abs() < 1e-9);
    assert_eq!(read(10_000).await[0].1[0].1.len(), 720, "raw values");

    // A late sample (an agent's backfill) lands in an old bucket: the rollup follows.
    store
        .insert_host_sample(&sample(5_000, 100.0, 250))
        .await
        .unwrap();
    assert_eq!(store.roll_up().await.unwrap(), 1);
    let minute = store
        .history(None, app::Metric::Cpu, 0, 60_000, 60_000)
        .await
        .unwrap();
    assert_eq!(minute[0].max, 100.0);
    let hour = store
        .history(None, app::Metric::Cpu, 0, 3_600_000, 3_600_000)
        .await
        .unwrap();
    assert_eq!(hour[0].max, 100.0);
    let cores = store
        .series_history(None, &[F::CpuCore], 0, 3_600_000, 3_600_000)
        .await
        .unwrap();
    assert_eq!(
        cores[0].1[0].1[0].max, 100.0,
        "the late value is in the series rollups"
    );

    // Retention per layer.
    let removed = store
        .apply_retention(7_200_000, 3_600_000, 7_200_000, 100 * 3_600_000)
        .await
        .unwrap();
    // The first hour's raw chunks (its 361 samples merged into one, and their series) go;
    // rollups stay.
    assert_eq!(removed, [2, 0, 0]);
    assert_eq!(
        store
            .history(None, app::Metric::Cpu, 0, 3_600_000, 10_000)
            .await
            .unwrap()
            .len(),
        0,
        "raw first hour gone"
    );
    assert_eq!(
        store
            .history(None, app::Metric::Cpu, 0, 3_600_000, 60_000)
            .await
            .unwrap()
            .len(),
        60,
        "its rollups stay"
    );
    let cores = store
        .series_history(None, &[F::CpuCore], 0, 3_600_000, 10_000)
        .await
        .unwrap();
    assert!(cores[0].1.is_empty(), "raw series of the first hour gone");
    let cores = store
        .series_history(None, &[F::CpuCore], 0, 3_600_000, 60_000)
        .await
        .unwrap();
    assert_eq!(cores[0].1[0].1.len(), 60, "their rollups stay");
}

#[tokio::test]
async fn rollups_on_sqlite() {
    let (store, _dir) = sqlite().await;
    rollups_behave(store).await;
}

#[tokio::test]
async fn rollups_on_postgres() {
    let Some(url) = common::postgres_database().await else {
        return;
    };
    rollups_behave(Store::open(&url).await.unwrap()).await;
}

/// History written by the row tables of earlier versions comes back from the chunks.
async fn legacy_history_is_converted(url: &str) {
    Store::open(url).await.unwrap().close().await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let figures = |kind: &str| {
        ["cpu", "mem", "disk", "rx", "tx"]
            .map(|p| format!("{p}_avg {kind}, {p}_min {kind}, {p}_max {kind}"))
            .join(", ")
    };
    for sql in [
        "create table legacy_host_sample (agent_id text, ts bigint, cpu_pct double precision, \
         load1 double precision, load5 double precision, load15 double precision, mem_total bigint, \
         mem_used bigint, swap_total bigint, swap_used bigint, disk_total bigint, disk_used bigint, \
         net_rx_bps double precision, net_tx_bps double precision)"
            .to_owned(),
        format!(
            "create table legacy_host_rollup_1m (agent_id text, ts bigint, n bigint, {})",
            figures("double precision")
        ),
        format!(
            "create table legacy_host_rollup_1h (agent_id text, ts bigint, n bigint, {})",
            figures("double precision")
        ),
        // Minutes 0 and 1 of the first hour, rolled up long ago (their raw samples expired).
        "insert into legacy_host_rollup_1m values \
         (null, 0, 6, 40, 10, 70, 25, 25, 25, 50, 50, 50, 100, 90, 110, 5, 5, 5), \
         (null, 60000, 6, 40, 20, 60, 25, 25, 25, 50, 50, 50, 100, 90, 110, 5, 5, 5)"
            .to_owned(),
        "insert into legacy_host_rollup_1h values \
         (null, 0, 12, 40, 10, 70, 25, 25, 25, 50, 50, 50, 100, 90, 110, 5, 5, 5)"
            .to_owned(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
    }
    // Raw samples of the third hour: 90 of them, every 10 s, CPU 0..89.
    for i in 0..90i64 {
        sqlx::query("insert into legacy_host_sample values (null, $1, $2, 0.5, 0.4, 0.3, 1000, 250, 0, 0, 4000, 1000, 10, 20)")
            .bind(7_200_000 + i * 10_000)
            .bind(i as f64)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;

    let store = Store::open(url).await.unwrap();
    assert_eq!(store.raw_sample_times(None).await.unwrap().len(), 90);
    assert_eq!(store.roll_up().await.unwrap(), 90);
    let minutes = store
        .history(None, app::Metric::Cpu, 0, 3 * 3_600_000, 60_000)
        .await
        .unwrap();
    assert_eq!(
        minutes.len(),
        2 + 15,
        "two old minutes and the third hour's fifteen"
    );
    assert_eq!(
        (minutes[0].avg, minutes[0].min, minutes[0].max),
        (40.0, 10.0, 70.0)
    );
    assert_eq!((minutes[2].start_ms, minutes[2].avg), (7_200_000, 2.5));
    let hours = store
        .history(None, app::Metric::Cpu, 0, 3 * 3_600_000, 3_600_000)
        .await
        .unwrap();
    assert_eq!(hours.len(), 2);
    assert_eq!((hours[0].avg, hours[0].max), (40.0, 70.0));
    assert_eq!((hours[1].start_ms, hours[1].avg), (7_200_000, 44.5));
    store.close().await;
    // Done once: reopening finds nothing left to convert and keeps what was converted.
    let store = Store::open(url).await.unwrap();
    assert_eq!(store.raw_sample_times(None).await.unwrap().len(), 90);
}

#[tokio::test]
async fn legacy_history_converted_on_sqlite() {
    let (store, dir) = sqlite().await;
    store.close().await;
    let url = format!("sqlite://{}", dir.path().join("v.db").display());
    legacy_history_is_converted(&url).await;
}

#[tokio::test]
async fn legacy_history_converted_on_postgres() {
    let Some(url) = common::postgres_database().await else {
        return;
    };
    legacy_history_is_converted(&url).await;
}

#[tokio::test]
async fn a_damaged_history_chunk_is_skipped_not_fatal() {
    let (store, dir) = sqlite().await;
    for i in 0..6i64 {
        store
            .insert_host_sample(&sample(i * 10_000, 10.0 * i as f64, 250))
            .await
            .unwrap();
    }
    // A chunk whose blob cannot be read, waiting to be folded with the good ones.
    let url = format!("sqlite://{}", dir.path().join("v.db").display());
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query(
        "insert into host_chunk (agent_id, layer, period, first_ts, last_ts, n, pending, data) \
         values (null, 0, 0, 5000, 5000, 1, 1, $1)",
    )
    .bind(vec![1u8, 0xde, 0xad, 0xbe, 0xef])
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    // The fold finishes (the damaged chunk is settled, not retried forever) and history
    // shows every readable sample at every layer.
    assert_eq!(store.roll_up().await.unwrap(), 6);
    assert_eq!(store.roll_up().await.unwrap(), 0);
    assert_eq!(store.pending_chunks().await.unwrap(), 0);
    let raw = store
        .history(None, app::Metric::Cpu, 0, 3_600_000, 10_000)
        .await
        .unwrap();
    assert_eq!(raw.len(), 6);
    let minute = store
        .history(None, app::Metric::Cpu, 0, 3_600_000, 60_000)
        .await
        .unwrap();
    assert_eq!(
        (minute[0].avg, minute[0].min, minute[0].max),
        (25.0, 0.0, 50.0)
    );
    assert_eq!(store.raw_sample_times(None).await.unwrap().len(), 6);
    assert_eq!(
        server::store::unreadable_chunks().count(),
        1,
        "counted once, however often it was read"
    );
}

/// A live hour is folded only once it is due: over, 32 chunks piled up, or its host quiet for
/// a minute. Until then its samples are read from their raw chunks at every step.
async fn live_hours_fold_when_due(url: &str) {
    const HOUR: i64 = 3_600_000;
    let store = Store::open(url).await.unwrap();
    let base = 10 * HOUR + 600_000;
    // Ten samples every 10 s from 10:10; the fold runs 20 s after the last.
    for i in 0..10i64 {
        store
            .insert_host_sample(&sample(base + i * 10_000, 10.0 * i as f64, 250))
            .await
            .unwrap();
    }
    let now = base + 110_000;
    assert_eq!(
        store.roll_up_at(now).await.unwrap(),
        0,
        "a live hour stays pending"
    );
    assert_eq!(
        store.pending_chunks().await.unwrap(),
        20,
        "totals and series, per sample"
    );
    for step in [10_000, 60_000, HOUR] {
        let points = store
            .history(None, app::Metric::Cpu, 0, now, step)
            .await
            .unwrap();
        let max = points.iter().map(|p| p.max).fold(0.0, f64::max);
        assert_eq!(max, 90.0, "the newest sample shows at a step of {step} ms");
    }
    let cores = store
        .series_history(None, &[app::SeriesFamily::CpuCore], 0, now, HOUR)
        .await
        .unwrap();
    assert_eq!(cores[0].1.len(), 2, "both cores, read from the raw values");
    // The fleet's sparklines see them too (kept in memory until they are folded), and after a
    // restart.
    let sparks = |store: Store| async move {
        let means = store
            .fleet_means(&[app::Metric::Cpu], base, base + HOUR, 120_000)
            .await
            .unwrap();
        means[&None]
            .iter()
            .map(|(ts, m)| (*ts, m[0]))
            .collect::<Vec<_>>()
    };
    let before = sparks(store.clone()).await;
    assert_eq!(before, vec![(base, 45.0)]);
    store.close().await;
    let store = Store::open(url).await.unwrap();
    assert_eq!(sparks(store.clone()).await, before, "read again at start");

    // 32 chunks piled up: merged and folded although the hour goes on.
    for i in 10..32i64 {
        store
            .insert_host_sample(&sample(base + i * 10_000, 50.0, 250))
            .await
            .unwrap();
    }
    let during = sparks(store.clone()).await;
    assert_eq!(during.len(), 3);
    let now = base + 330_000;
    assert_eq!(store.roll_up_at(now).await.unwrap(), 32);
    assert_eq!(store.pending_chunks().await.unwrap(), 0);
    // The rollups hold what was in memory, once (their means kept to a hundredth).
    let after = sparks(store.clone()).await;
    assert_eq!(after.len(), during.len());
    for ((t0, m0), (t1, m1)) in during.iter().zip(&after) {
        assert!(t0 == t1 && (m0 - m1).abs() < 0.01, "{during:?} {after:?}");
    }
    store
        .insert_host_sample(&sample(base + 320_000, 99.0, 250))
        .await
        .unwrap();
    let now = base + 340_000;
    assert_eq!(
        store.roll_up_at(now).await.unwrap(),
        0,
        "one new chunk: pending again"
    );
    let hour = store
        .history(None, app::Metric::Cpu, 0, now, HOUR)
        .await
        .unwrap();
    assert_eq!(
        (hour.len(), hour[0].max),
        (1, 99.0),
        "the rollup and the new chunk"
    );

    // Its host quiet for a minute: due, though the hour is not over.
    assert_eq!(store.roll_up_at(base + 380_000).await.unwrap(), 1);
    assert_eq!(store.pending_chunks().await.unwrap(), 0);
    let hour = store
        .history(None, app::Metric::Cpu, 0, now, HOUR)
        .await
        .unwrap();
    assert_eq!(hour[0].max, 99.0);
    assert_eq!(store.raw_sample_times(None).await.unwrap().len(), 33);

    // An hour that is over is due at once, however fresh its samples.
    store
        .insert_host_sample(&sample(11 * HOUR - 5_000, 5.0, 250))
        .await
        .unwrap();
    assert_eq!(store.roll_up_at(11 * HOUR + 130_000).await.unwrap(), 1);
}

#[tokio::test]
async fn live_hours_fold_when_due_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    live_hours_fold_when_due(&format!("sqlite://{}", dir.path().join("v.db").display())).await;
}

#[tokio::test]
async fn live_hours_fold_when_due_on_postgres() {
    let Some(url) = common::postgres_database().await else {
        return;
    };
    live_hours_fold_when_due(&url).await;
}

/// A store made by the version before time units were unified (migrations up to 0008), with
/// a container and a certificate in it, keeps them and their times when it is opened now.
async fn time_units_are_converted(url: &str, dialect: &str) {
    let old = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(dialect);
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.as_str() < "0009" {
            std::fs::copy(&path, old.path().join(&name)).unwrap();
        }
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::migrate::Migrator::new(old.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    for sql in [
        "insert into agent (agent_id, label, hostname, created_at) values ('a1', 'web', 'web', 1700000000)",
        "insert into container (agent_id, container_id, name, image, state, status, created_unix, listed_at, stats_at) \
         values ('a1', 'c1', 'db', 'postgres:16', 'running', 'Up', 1700000000, 1700000001000, 1700000002000)",
        "insert into certificate (agent_id, target, subject, issuer, not_after, chain_valid, scanned_at) \
         values ('a1', 'example.org:443', 'CN=example.org', 'CN=CA', 1800000000, 1, 1700000003000)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let store = Store::open(url).await.unwrap();
    let certificates = store.certificates(None).await.unwrap();
    assert_eq!(certificates.len(), 1);
    assert_eq!(certificates[0].not_after_ms, Some(1_800_000_000_000));
    assert_eq!(certificates[0].scanned_ms, 1_700_000_003_000);
    let containers = store.containers(None).await.unwrap();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].stats_ms, Some(1_700_000_002_000));
    store.close().await;
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let created: i64 = sqlx::query_scalar("select created_ms from container")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(created, 1_700_000_000_000);
}

#[tokio::test]
async fn time_units_converted_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    time_units_are_converted(&url, "sqlite").await;
}

#[tokio::test]
async fn time_units_converted_on_postgres() {
    let Some(url) = common::postgres_database().await else {
        return;
    };
    time_units_are_converted(&url, "postgres").await;
}

/// A fleet token with three uses, twelve hosts enrolling at once: exactly three get in, on
/// either database, and the token lists them; past its TTL a token says so.
async fn fleet_token_uses_hold_under_racing_enrollments(store: Store) {
    let user = store.create_first_user("admin", "h").await.unwrap();
    let token = store
        .create_enrollment_token("fleet", "hint", user, proto::clock::now_s() + 3600, Some(3))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let agent = new_agent(
                    format!("00000000-0000-4000-8000-0000000002{i:02}"),
                    &format!("node-{i}"),
                );
                store.register_agent("fleet", &agent).await.unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let registered = outcomes
        .iter()
        .filter(|o| matches!(o, Registration::Registered { .. }))
        .count();
    assert_eq!(registered, 3, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            Registration::Registered { .. } | Registration::UsedUp { max_uses: 3 }
        )),
        "{outcomes:?}"
    );
    let row = store
        .enrollment_token(token.enrollment_token_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.uses, row.max_uses, row.used_up()), (3, Some(3), true));
    let enrolled = store.agents_by_enrollment_token().await.unwrap();
    assert_eq!(enrolled.len(), 3);
    assert!(
        enrolled
            .iter()
            .all(|(id, _, _)| *id == token.enrollment_token_id)
    );
    assert_eq!(store.list_agents().await.unwrap().len(), 3);

    // Unlimited within the TTL; once past it, "expired", not "used up".
    store
        .create_enrollment_token("open", "hint", user, proto::clock::now_s() + 3600, None)
        .await
        .unwrap();
    store
        .create_enrollment_token("old", "hint", user, proto::clock::now_s() - 1, None)
        .await
        .unwrap();
    for i in 0..5 {
        let agent = new_agent(
            format!("00000000-0000-4000-8000-0000000003{i:02}"),
            &format!("open-{i}"),
        );
        assert!(matches!(
            store.register_agent("open", &agent).await.unwrap(),
            Registration::Registered { .. }
        ));
        if i == 0 {
            assert_eq!(
                store.register_agent("old", &agent).await.unwrap(),
                Registration::Expired
            );
            assert_eq!(
                store.register_agent("nope", &agent).await.unwrap(),
                Registration::Unknown
            );
        }
    }
}

#[tokio::test]
async fn sqlite_fleet_token_uses_hold_under_racing_enrollments() {
    let (store, _dir) = sqlite().await;
    fleet_token_uses_hold_under_racing_enrollments(store).await;
}

#[tokio::test]
async fn postgres_fleet_token_uses_hold_under_racing_enrollments() {
    let Some(url) = common::postgres_database().await else {
        return;
    };
    fleet_token_uses_hold_under_racing_enrollments(Store::open(&url).await.unwrap()).await;
}
