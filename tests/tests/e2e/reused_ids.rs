//! Integer ids without AUTOINCREMENT (`INTEGER PRIMARY KEY`, `keys =
//! "map"`): SQLite gives a new row the highest id + 1, so the id of a
//! deleted last row comes back for the next one. A till that adopted
//! another till's sale under an id, saw it deleted, and reuses that id
//! for a sale of its own must push it as a new sale, not as the deleted
//! one: every sale made arrives once, on the server and on both tills.

use super::integer_keys::{Day, LOCAL, SERVER, Till, settle_both};

/// Two tills whose sales' ids have no AUTOINCREMENT (SQLite reuses the id
/// of a deleted last row).
async fn without_autoincrement() -> Day {
    let local = LOCAL.replace(" AUTOINCREMENT", "");
    Day::open(SERVER, &local, "").await.unwrap()
}

/// The id of the sale paid `payment` on `till`.
fn id_of(till: &Till, payment: &str) -> i64 {
    till.app
        .query_row("SELECT id FROM sales WHERE payment = ?1", [payment], |r| {
            r.get(0)
        })
        .unwrap()
}

/// Voids sale `id` on `till`: its items, then the sale.
fn void(till: &Till, id: i64) {
    till.app
        .execute_batch(&format!(
            "DELETE FROM sale_items WHERE sale_id = {id}; DELETE FROM sales WHERE id = {id};"
        ))
        .unwrap();
}

/// (payment, total) of every sale on a till, sorted.
fn sales(till: &Till) -> Vec<(String, f64)> {
    let mut stmt = till
        .app
        .prepare("SELECT payment, total FROM sales ORDER BY payment")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Every sale, on the server and on both tills, is `want` (payment, total).
async fn check(server: &tokio_postgres::Client, t1: &Till, t2: &Till, want: &[(&str, f64)]) {
    let want: Vec<(String, f64)> = want.iter().map(|(p, t)| (p.to_string(), *t)).collect();
    let on_server: Vec<(String, f64)> = server
        .query("SELECT payment, total FROM sales ORDER BY payment", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(on_server, want, "every sale once on the server");
    assert_eq!(sales(t1), want, "till 1");
    assert_eq!(sales(t2), want, "till 2");
}

#[tokio::test]
async fn a_reused_id_is_a_new_sale_not_the_deleted_one() {
    let mut day = without_autoincrement().await;
    let tea_2 = day.tea_2;
    let Day { db, t1, t2, .. } = &mut day;
    // Sale A on till 1; till 2 adopts it (its first sale: id 1 there).
    t1.sell(1, 1, 2.5, "A").unwrap();
    t1.sync(db).await.unwrap();
    t2.sync(db).await.unwrap();
    let adopted = id_of(t2, "A");
    // Till 1 deletes sale A (a void); till 2 sees it go.
    t1.app
        .execute_batch("DELETE FROM sale_items; DELETE FROM sales;")
        .unwrap();
    t1.sync(db).await.unwrap();
    t2.sync(db).await.unwrap();
    assert!(sales(t2).is_empty());
    // Both tills sell again: each reuses its freed id.
    let b = t2.sell(tea_2, 2, 2.5, "B").unwrap();
    assert_eq!(b, adopted, "SQLite reused the id of the deleted sale");
    let c = t1.sell(1, 3, 2.5, "C").unwrap();
    assert_eq!(c, 1);
    settle_both(db, t2, t1).await.unwrap();
    let server = db.connect().await.unwrap();
    check(&server, t1, t2, &[("B", 5.0), ("C", 7.5)]).await;

    // Now till 2 voids a sale it adopted (D, till 1's), and reuses its id
    // for a sale of its own (E) once the void went through; till 1 reuses
    // D's id too (F), under D's own key again.
    let d = t1.sell(1, 1, 2.5, "D").unwrap();
    settle_both(db, t1, t2).await.unwrap();
    let adopted = id_of(t2, "D");
    void(t2, adopted);
    settle_both(db, t2, t1).await.unwrap();
    let e = t2.sell(tea_2, 4, 2.5, "E").unwrap();
    assert_eq!(e, adopted, "SQLite reused the id of the voided sale");
    let f = t1.sell(1, 5, 2.5, "F").unwrap();
    assert_eq!(f, d);
    settle_both(db, t1, t2).await.unwrap();
    check(
        &server,
        t1,
        t2,
        &[("B", 5.0), ("C", 7.5), ("E", 10.0), ("F", 12.5)],
    )
    .await;
    for till in [&t1, &t2] {
        till.assert_settled("reused ids");
    }
}

/// The server's key of the sale paid `payment`.
async fn server_key(server: &tokio_postgres::Client, payment: &str) -> i64 {
    server
        .query_one("SELECT id FROM sales WHERE payment = $1", &[&payment])
        .await
        .unwrap()
        .get(0)
}

/// Till 2 voids a sale it adopted and, before that void is pushed, sells
/// again on the id SQLite frees: the void and the new sale are two
/// changes (the adopted sale's delete, under its key, and a sale of till
/// 2's own), not one sale rewritten into another. Then the same while
/// till 1 edits the voided sale: the edit and the void meet as a conflict
/// of that sale alone, and the new sale arrives whatever the policy
/// decides.
#[tokio::test]
async fn a_sale_on_the_id_of_a_void_not_yet_pushed_is_a_new_sale() {
    let mut day = without_autoincrement().await;
    let tea_2 = day.tea_2;
    let Day { db, t1, t2, .. } = &mut day;
    let server = db.connect().await.unwrap();
    t1.sell(1, 1, 2.5, "G").unwrap();
    settle_both(db, t1, t2).await.unwrap();
    let g = server_key(&server, "G").await;
    let adopted = id_of(t2, "G");
    void(t2, adopted);
    let h = t2.sell(tea_2, 2, 2.5, "H").unwrap();
    assert_eq!(h, adopted, "SQLite reused the id of the voided sale");
    settle_both(db, t2, t1).await.unwrap();
    check(&server, t1, t2, &[("H", 5.0)]).await;
    assert_ne!(server_key(&server, "H").await, g, "H is a sale of its own");
    for till in [&t1, &t2] {
        till.assert_settled("void then a sale on its id");
    }

    // Till 1 edits sale J while till 2 voids it and sells K on its id.
    t1.sell(1, 1, 2.5, "J").unwrap();
    settle_both(db, t1, t2).await.unwrap();
    let adopted = id_of(t2, "J");
    t1.app
        .execute(
            "UPDATE sales SET payment = 'J card' WHERE payment = 'J'",
            [],
        )
        .unwrap();
    t1.sync(db).await.unwrap();
    void(t2, adopted);
    let k = t2.sell(tea_2, 3, 2.5, "K").unwrap();
    assert_eq!(k, adopted, "SQLite reused the id of the voided sale");
    settle_both(db, t2, t1).await.unwrap();
    let on_server: Vec<String> = server
        .query("SELECT payment FROM sales ORDER BY payment", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        on_server.contains(&"K".to_string()),
        "K arrived: {on_server:?}"
    );
    for till in [&t1, &t2] {
        let payments: Vec<String> = sales(till).into_iter().map(|(p, _)| p).collect();
        assert_eq!(payments, on_server, "each till holds the server's sales");
    }
    // The void lost to the edit (the sales' policy keeps the server's
    // side): announced, and the sale back on till 2 under an id of the
    // app's kind.
    let status = t2
        .engine
        .local()
        .status(0, std::time::Duration::from_secs(60))
        .unwrap();
    assert_eq!(status.overwritten_local, 1, "{status:?}");
    let lowest: i64 = t2
        .app
        .query_row("SELECT min(id) FROM sales", [], |r| r.get(0))
        .unwrap();
    assert!(lowest > 0, "no parked id reaches the app: {lowest}");
}

/// Till 1 voids a sale of its own, then adopts one of till 2's before it
/// sells again: the adopted sale takes a fresh id, not the voided sale's,
/// which stays mapped to its key for when the app reuses it.
#[tokio::test]
async fn a_sale_adopted_after_a_void_takes_an_id_of_its_own() {
    let mut day = without_autoincrement().await;
    let tea_2 = day.tea_2;
    let Day { db, t1, t2, .. } = &mut day;
    t1.sell(1, 1, 2.5, "L").unwrap();
    t1.sync(db).await.unwrap();
    t1.app
        .execute_batch("DELETE FROM sale_items; DELETE FROM sales;")
        .unwrap();
    t1.sync(db).await.unwrap();
    t2.sync(db).await.unwrap();
    t2.sell(tea_2, 2, 2.5, "M").unwrap();
    settle_both(db, t2, t1).await.unwrap();
    let m = id_of(t1, "M");
    assert_eq!(m, 2, "above the voided sale's id, still mapped");
    let n = t1.sell(1, 3, 2.5, "N").unwrap();
    assert_eq!(n, 3);
    settle_both(db, t1, t2).await.unwrap();
    let server = db.connect().await.unwrap();
    check(&server, t1, t2, &[("M", 5.0), ("N", 7.5)]).await;
    for till in [&t1, &t2] {
        till.assert_settled("adopted after a void");
    }
}
