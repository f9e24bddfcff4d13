//! Out-of-order commits lose nothing: a server transaction that starts
//! first, writes, and commits after a later transaction has committed (and
//! the device has pulled since) still reaches the device. Pull cursors are
//! transaction ids bounded by the server's horizon, not clocks.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_postgres::Client;

use ebb_tests::{Env, rows};

async fn insert_product(client: &Client, row: &serde_json::Value) {
    client
        .execute(
            "INSERT INTO products SELECT * FROM jsonb_populate_record(null::products, $1)",
            &[row],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_transaction_that_commits_last_is_still_pulled() {
    let env = Env::new().await.unwrap();
    let mut a = env.default_device().unwrap();
    let early = rows::product("Early", 1);
    let late = rows::product("Late", 2);

    let slow = env.db.connect().await.unwrap();
    let fast = env.db.connect().await.unwrap();
    slow.batch_execute("BEGIN").await.unwrap();
    insert_product(&slow, &early).await; // takes the older txid
    insert_product(&fast, &late).await; // commits first
    a.sync_ok().await.unwrap();
    // Held back by the open transaction: not lost, not yet visible.
    assert_eq!(a.row("products", &rows::id_of(&late)).unwrap(), None);
    a.sync_ok().await.unwrap();

    slow.batch_execute("COMMIT").await.unwrap();
    env.settle().await.unwrap();
    a.sync_ok().await.unwrap();
    assert_eq!(
        a.row("products", &rows::id_of(&early)).unwrap(),
        Some(early)
    );
    assert_eq!(a.row("products", &rows::id_of(&late)).unwrap(), Some(late));
}

/// Several server connections begin, write and commit in a random order
/// while a device pulls between the steps; some roll back. In the end the
/// device holds exactly the committed rows.
#[tokio::test]
async fn random_commit_orders_lose_nothing() {
    let seed = ebb_tests::seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let env = Env::new().await.unwrap();
    let mut a = env
        .device(&ebb_tests::DeviceSpec {
            pull_page_size: 3,
            ..Default::default()
        })
        .unwrap();
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push((env.db.connect().await.unwrap(), Vec::<String>::new(), false));
    }
    let mut committed: Vec<String> = Vec::new();
    let mut rolled_back: Vec<String> = Vec::new();
    for _ in 0..40 {
        let i = rng.random_range(0..conns.len());
        let (client, pending, open) = &mut conns[i];
        match rng.random_range(0..4) {
            0 | 1 => {
                if !*open {
                    client.batch_execute("BEGIN").await.unwrap();
                    *open = true;
                }
                let p = rows::product("Random", rng.random_range(0..100));
                insert_product(client, &p).await;
                pending.push(rows::id_of(&p));
            }
            2 if *open => {
                let commit = rng.random_bool(0.8);
                client
                    .batch_execute(if commit { "COMMIT" } else { "ROLLBACK" })
                    .await
                    .unwrap();
                *open = false;
                let done = std::mem::take(pending);
                if commit {
                    committed.extend(done)
                } else {
                    rolled_back.extend(done)
                }
            }
            _ => {
                let r = a.sync().await;
                assert!(r.is_ok(), "seed {seed}: {r:?}");
            }
        }
    }
    for (client, pending, open) in &mut conns {
        if *open {
            client.batch_execute("COMMIT").await.unwrap();
            committed.extend(std::mem::take(pending));
        }
    }
    env.settle().await.unwrap();
    a.sync_ok().await.unwrap();
    for id in &committed {
        assert!(
            a.row("products", id).unwrap().is_some(),
            "seed {seed}: lost {id}"
        );
    }
    for id in &rolled_back {
        assert!(
            a.row("products", id).unwrap().is_none(),
            "seed {seed}: phantom {id}"
        );
    }
    assert_eq!(
        a.count("products").unwrap() as usize,
        committed.len(),
        "seed {seed}"
    );
}
