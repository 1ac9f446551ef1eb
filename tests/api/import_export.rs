//! Import and export (docs/interchange.md) on both databases.

use sea_orm::{EntityTrait, PaginatorTrait};

use crate::support::*;

async fn export_string(app: &dvc_gateway::app::App, unit: Option<&str>) -> String {
    export_str(app, unit).await
}

per_backend! {
    #[tokio::test]
    async fn sample_imports_idempotently_and_round_trips(backend: Backend) {
        let (_db, app) = sample_app(backend).await;
        assert_eq!(entity::dossier::Entity::find().count(&app.db).await.unwrap(), 500, "{backend:?}");
        assert_eq!(entity::receipt::Entity::find().count(&app.db).await.unwrap(), 264);
        assert_eq!(entity::feedback::Entity::find().count(&app.db).await.unwrap(), 41);
        assert_eq!(entity::dossier_event::Entity::find().count(&app.db).await.unwrap(), 1771);

        // A second import of the same file changes nothing.
        let again = import_str(&app, SAMPLE, false).await;
        assert_eq!((again.written, again.unchanged, again.rejected), (0, 903, 0), "{backend:?}");

        // import(export(x)) reproduces x: the export of a fresh import of the export is the same text.
        let first = export_string(&app, None).await;
        assert_eq!(first.lines().count(), 903);
        let db2 = TestDb::new(backend).await;
        let app2 = crate::support::app(&db2);
        let r = import_str(&app2, &first, false).await;
        assert!(r.committed && r.rejected == 0, "{:?}", r.errors.first());
        assert_eq!(export_string(&app2, None).await, first, "{backend:?}");

        // Every record of the sample survives with the same content.
        let original: Vec<serde_json::Value> =
            SAMPLE.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let exported: Vec<serde_json::Value> =
            first.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        for rec in original.iter().filter(|r| r["type"] == "dossier").take(50) {
            let back = exported
                .iter()
                .find(|e| e["type"] == "dossier" && e["code"] == rec["code"])
                .expect("exported");
            assert_eq!(back["applicant"]["id_number"], rec["applicant"]["id_number"]);
            assert_eq!(back["events"].as_array().map(Vec::len), rec["events"].as_array().map(Vec::len));
            let instant =
                |v: &serde_json::Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
            assert_eq!(instant(&back["received_at"]), instant(&rec["received_at"]));
        }
    }
}

#[tokio::test]
async fn personal_data_is_not_stored_in_clear() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let d = entity::dossier::Entity::find().one(&app.db).await.unwrap().unwrap();
    let json = format!("{d:?}");
    let id = app.vault.open(&d.applicant_id_sealed).unwrap();
    assert!(!json.contains(&id), "identity number in clear: {json}");
    assert!(d.applicant_id_masked.ends_with(&id[id.len() - 3..]));
    assert!(d.applicant_id_masked.starts_with('*'));
}

per_backend! {
    #[tokio::test]
    async fn a_bad_line_writes_nothing_and_every_bad_line_is_reported(backend: Backend) {
        let db = TestDb::new(backend).await;
        let app = crate::support::app(&db);
        let mut lines: Vec<String> = SAMPLE.lines().map(str::to_owned).collect();
        lines[70] = lines[70].replace("\"fee\": ", "\"fees\": ");
        lines[5] = "{not json".to_owned();
        let n = lines.len();
        lines[n - 1] = lines[n - 1].replace("\"unit\": \"", "\"unit\": \"X");
        let text = lines.join("\n");
        let r = import_str(&app, &text, false).await;
        assert!(!r.committed);
        let where_: Vec<(u64, String)> = r.errors.iter().map(|e| (e.line, e.field.clone())).collect();
        assert!(where_.contains(&(6, "-".into())), "{where_:?}");
        assert!(where_.contains(&(71, "-".into())) || where_.iter().any(|(l, _)| *l == 71), "{where_:?}");
        assert!(where_.contains(&(n as u64, "unit".into())), "{where_:?}");
        assert_eq!(
            entity::unit::Entity::find().count(&app.db).await.unwrap(),
            0,
            "nothing written on {backend:?}"
        );

        // With skip-invalid the good lines are kept and the bad ones go to the rejects sink.
        let mut rejects: Vec<u8> = Vec::new();
        let r = dvc_gateway::interchange::import::import(
            &app.db,
            &app.vault,
            &operator("import"),
            text.as_bytes(),
            dvc_gateway::interchange::import::ImportOptions { skip_invalid: true, ..Default::default() },
            Some(&mut rejects),
        )
        .await
        .unwrap();
        assert!(r.committed);
        assert!(r.rejected >= 3, "{r:?}");
        let rejected: Vec<serde_json::Value> =
            String::from_utf8(rejects).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(rejected.len() as u64, r.rejected);
        assert!(rejected.iter().any(|j| j["line"] == 6 && j["text"] == "{not json"));
        assert!(entity::dossier::Entity::find().count(&app.db).await.unwrap() > 400);
    }
}

#[tokio::test]
async fn references_must_come_earlier_and_unit_chains_must_not_cycle() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = crate::support::app(&db);
    let text = [
        r#"{"type":"unit","code":"A","name":"A","level":"PROVINCE","parent":"B"}"#,
        r#"{"type":"unit","code":"B","name":"B","level":"NATIONAL"}"#,
        r#"{"type":"unit","code":"C","name":"C","level":"PROVINCE","parent":"B"}"#,
        r#"{"type":"unit","code":"B","name":"B","level":"NATIONAL","parent":"C"}"#,
    ]
    .join("\n");
    let r = import_str(&app, &text, false).await;
    let got: Vec<(u64, String)> = r.errors.iter().map(|e| (e.line, e.field.clone())).collect();
    assert_eq!(got, vec![(1, "parent".to_owned()), (4, "parent".to_owned())]);
}

#[tokio::test]
async fn export_of_one_unit_imports_into_an_empty_database() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let text = export_string(&app, Some("49")).await;
    assert!(text.lines().any(|l| l.contains("\"code\":\"49\"")));
    assert!(!text.lines().any(|l| l.contains("\"type\":\"dossier\"") && l.contains("\"unit\":\"8000\"")));
    let db2 = TestDb::new(Backend::Sqlite).await;
    let app2 = crate::support::app(&db2);
    let r = import_str(&app2, &text, false).await;
    assert!(r.committed, "{:?}", r.errors.first());
}

per_backend! {
    #[tokio::test]
    async fn changed_records_are_replaced_and_repeats_link_within_a_batch(backend: Backend) {
        use sea_orm::{ColumnTrait, QueryFilter};
        let (_db, app) = sample_app(backend).await;
        let pakn = |code: &str, repeat: Option<&str>| {
            let repeat = repeat.map(|r| format!(r#","repeat_of":"{r}""#)).unwrap_or_default();
            format!(
                r#"{{"type":"feedback","code":"{code}","kind":"COMPLAINT","channel":"HOTLINE","unit":"20011","received_at":"2024-10-09T08:00:00+07:00","due_at":"2024-10-20T08:00:00+07:00","content":"x","recorded_by":"hotline-01"{repeat}}}"#
            )
        };
        let text = [
            r#"{"type":"receipt","series":"BL-25E","number":1,"template":"01BLP0-001","dossier":"000.00.20501-251117-00002","payer_name":"Nguyễn Văn 2","amount":15000,"kind":"FEE","payment_channel":"NATIONAL_PORTAL","method":"BANK_TRANSFER","issued_at":"2025-11-19T12:52:47+07:00","status":"CANCELLED","cancelled_at":"2025-11-20T08:00:00+07:00","cancel_reason":"wrong amount"}"#.to_owned(),
            pakn("PAKN-90001", Some("PAKN-00000")),
            pakn("PAKN-90002", None),
            // Defined again: the later line wins whole, and it names a record that sits after it in insert order.
            pakn("PAKN-90001", Some("PAKN-90002")),
        ]
        .join("\n");
        let r = import_str(&app, &text, false).await;
        assert!(r.committed && r.rejected == 0, "{backend:?} {:?}", r.errors.first());
        assert_eq!(r.written, 4, "{backend:?}");

        let receipt = entity::receipt::Entity::find()
            .filter(entity::receipt::Column::Series.eq("BL-25E"))
            .filter(entity::receipt::Column::Number.eq(1))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(receipt.status, dvc_gateway::domain::ReceiptStatus::Cancelled);
        assert_eq!(receipt.cancel_reason.as_deref(), Some("wrong amount"));
        // Its dossier's paid interval now ends at the cancellation.
        let paid = entity::dossier_paid::Entity::find_by_id(receipt.dossier_id).one(&app.db).await.unwrap();
        assert_eq!(paid.and_then(|p| p.paid_to), receipt.cancelled_at, "{backend:?}");
        let by_code = |code: &'static str| {
            let db = app.db.clone();
            async move {
                entity::feedback::Entity::find()
                    .filter(entity::feedback::Column::Code.eq(code))
                    .one(&db)
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        let (first, second) = (by_code("PAKN-90001").await, by_code("PAKN-90002").await);
        assert_eq!(first.repeat_of_id, Some(second.id), "{backend:?}");
        assert_eq!(entity::feedback::Entity::find().count(&app.db).await.unwrap(), 43);

        // Again: line 2 differs from what is stored, but line 4 replaces it within the batch, so what is stored
        // stays as line 4 has it.
        let again = import_str(&app, &text, false).await;
        assert_eq!((again.written, again.unchanged), (1, 3), "{backend:?}");
        assert_eq!(by_code("PAKN-90001").await.repeat_of_id, Some(second.id), "{backend:?}");
        assert_eq!(entity::feedback::Entity::find().count(&app.db).await.unwrap(), 43);
    }
}

per_backend! {
    #[tokio::test]
    async fn free_text_of_every_kind_survives_a_bulk_import(backend: Backend) {
        // PostgreSQL receives a batch's rows as one array literal a column: quotes, backslashes, braces, commas,
        // the word NULL and line breaks must come back as written, on every kind of row a batch inserts.
        const AWKWARD: [&str; 10] = [
            r#"say "hi""#,
            r"C:\temp\",
            r#"\"quoted\""#,
            "{a,b}",
            "NULL",
            r"\N",
            "tab\there",
            "line\nbreak",
            "Nguyễn \"Văn\" \\ {x}, 'y'",
            "}",
        ];
        let mut i = 0;
        let mut next = || {
            i += 1;
            AWKWARD[i % AWKWARD.len()]
        };
        let text: Vec<String> = SAMPLE
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                match v["type"].as_str() {
                    Some("dossier") => {
                        for e in v["events"].as_array_mut().unwrap() {
                            e["note"] = next().into();
                        }
                        for s in v["supplements"].as_array_mut().into_iter().flatten() {
                            s["reason"] = next().into();
                        }
                        for a in v["apologies"].as_array_mut().into_iter().flatten() {
                            a["reason"] = next().into();
                        }
                    }
                    Some("receipt") if v.get("cancel_reason").is_some() => v["cancel_reason"] = next().into(),
                    _ => {}
                }
                v.to_string()
            })
            .collect();
        let db = TestDb::new(backend).await;
        let app = crate::support::app(&db);
        let r = import_str(&app, &text.join("\n"), false).await;
        assert!(r.committed && r.rejected == 0, "{backend:?} {:?}", r.errors.first());
        let exported: std::collections::HashMap<String, serde_json::Value> = export_string(&app, None)
            .await
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| {
                let key = format!("{}|{}|{}|{}", v["type"], v["code"], v["series"], v["number"]);
                (key, v)
            })
            .collect();
        let texts = |v: &serde_json::Value| -> Vec<serde_json::Value> {
            let list = |k: &str, f: &str| -> Vec<serde_json::Value> {
                v[k].as_array().into_iter().flatten().map(|x| x[f].clone()).collect()
            };
            [list("events", "note"), list("supplements", "reason"), list("apologies", "reason")]
                .concat()
                .into_iter()
                .chain([v["cancel_reason"].clone()])
                .collect()
        };
        let mut checked = 0;
        for line in &text {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if !matches!(v["type"].as_str(), Some("dossier" | "receipt")) {
                continue;
            }
            let key = format!("{}|{}|{}|{}", v["type"], v["code"], v["series"], v["number"]);
            let back = exported.get(&key).unwrap_or_else(|| panic!("{key} exported"));
            assert_eq!(texts(back), texts(&v), "{backend:?} {key}");
            checked += texts(&v).iter().filter(|t| AWKWARD.iter().any(|a| t.as_str() == Some(a))).count();
        }
        assert!(checked > 1_500, "{checked} awkward texts compared");
    }
}
