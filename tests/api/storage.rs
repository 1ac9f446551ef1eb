//! The storage boundary: what the database holds is read into typed values in one place, and a value no
//! enumeration knows is an error there, never a row that silently goes missing.

use dvc_gateway::auth::Role;
use dvc_gateway::db;
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::json;

use crate::support::*;

per_backend! {
#[tokio::test]
async fn a_stored_name_outside_its_enumeration_is_an_error_not_a_missing_row(backend: Backend) {
    let (db, app) = sample_app(backend).await;

    // A unit whose level no enumeration knows: the tree is not loaded without it, it fails.
    db.conn
        .execute_unprepared("UPDATE unit SET level = 'GALAXY' WHERE id = (SELECT MIN(id) FROM unit)")
        .await
        .unwrap();
    let err = db::load_units(&db.conn).await.expect_err("a tree without the unit");
    assert!(matches!(err, DbErr::TryIntoErr { into: "UnitLevel", .. }), "{err}");
    assert!(err.to_string().contains("`GALAXY` is not one of"), "{err}");
    db.conn.execute_unprepared("UPDATE unit SET level = 'PROVINCE' WHERE level = 'GALAXY'").await.unwrap();

    // A history event likewise: the dossier's facts are not recomputed without it.
    let row = db
        .conn
        .query_one_raw(sea_orm::Statement::from_string(
            db.conn.get_database_backend(),
            "SELECT MIN(dossier_id) FROM dossier_event",
        ))
        .await
        .unwrap()
        .unwrap();
    let dossier_id: i64 = row.try_get_by_index(0).unwrap();
    let lost = format!("UPDATE dossier_event SET status = 'LOST' WHERE dossier_id = {dossier_id}");
    db.conn.execute_unprepared(&lost).await.unwrap();
    let err = db::lifecycle::refresh_facts(&db.conn, dossier_id).await.expect_err("facts without the event");
    assert!(matches!(err, DbErr::TryIntoErr { into: "DossierStatus", .. }), "{err}");

    // Through the API the reader is told of an internal error, with no stored text in it.
    db.conn.execute_unprepared("UPDATE dossier SET channel = 'PIGEON'").await.unwrap();
    let s = schema(&app);
    let q = "query($c: String!) { dossier(code: $c) { code channel } }";
    let v = run(&s, &app, staff(Role::Admin, "49"), q, json!({ "c": "000.00.20022-250514-00000" })).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "INTERNAL", "{v}");
    assert!(!v.to_string().contains("PIGEON"), "{v}");
}
}
