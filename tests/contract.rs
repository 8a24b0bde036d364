//! The API contract (issue 9): every refusal is `{"error": {...}}` with a stable code,
//! codes accept only their documented characters, the create body is a typed struct that
//! refuses unknown fields, and /openapi.json says all of it.

mod common;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Status, `Content-Type`, and the parsed body (JSON, or the text as a JSON string).
async fn answer(r: reqwest::Response) -> (u16, String, Value) {
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, ct, body)
}

fn assert_json_error(got: &(u16, String, Value), status: u16, code: &str, field: Option<&str>, what: &str) {
    assert_eq!(got.0, status, "{what}: {got:?}");
    assert!(got.1.starts_with("application/json"), "{what}: content type {got:?}");
    assert_eq!(got.2["error"]["code"], code, "{what}: {got:?}");
    assert!(got.2["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {got:?}");
    assert_eq!(got.2["error"]["field"].as_str(), field, "{what}: {got:?}");
}

#[tokio::test]
async fn bad_query_strings_and_path_segments_are_json_refusals_that_name_the_parameter() {
    let app = TestApp::spawn().await;
    let get = |path: &str, key: &str| app.get(path, key).send();
    let cases = [
        ("/v1/payments?limit=x", &app.portal_key, "invalid_query", Some("limit")),
        ("/v1/payments?limit=1.5", &app.portal_key, "invalid_query", Some("limit")),
        ("/v1/payments?created_from=yesterday", &app.portal_key, "invalid_query", Some("created_from")),
        ("/v1/payments?dossier_code=a%20b", &app.portal_key, "invalid_query", Some("dossier_code")),
        ("/v1/payments?cursor=-5_pay_x", &app.portal_key, "invalid_cursor", Some("cursor")),
        ("/v1/events?limit=many", &app.finance_key, "invalid_query", Some("limit")),
        ("/v1/payments/%FF", &app.portal_key, "invalid_path", None),
        ("/v1/payments/%FF/refunds", &app.finance_key, "invalid_path", None),
    ];
    for (path, key, code, field) in cases {
        let got = answer(get(path, key).await.unwrap()).await;
        assert_json_error(&got, 400, code, field, path);
    }
    let r = app.post("/v1/reconciliation/runs?rerun=perhaps", &app.finance_key).json(&json!({})).send();
    assert_json_error(&answer(r.await.unwrap()).await, 400, "invalid_query", Some("rerun"), "rerun=perhaps");
    // A route of another module (admin) with axum's own extractor: still the contract.
    let got = answer(get("/v1/agencies/%FF/accounts", &app.admin_key).await.unwrap()).await;
    assert_eq!((got.0, got.2["error"]["code"].as_str()), (400, Some("bad_request")), "{got:?}");
    assert!(got.1.starts_with("application/json"), "{got:?}");
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_json_on_the_api_and_pages_in_the_browser() {
    let app = TestApp::spawn().await;
    let send = |method: Method, path: &str| app.client.request(method, format!("{}{path}", app.url)).send();

    for path in ["/v1/nope", "/v1/payments/pay_x/nope", "/nope", "/v2/payments"] {
        let got = answer(send(Method::GET, path).await.unwrap()).await;
        assert_json_error(&got, 404, "not_found", None, path);
    }
    for (method, path, allow) in [
        (Method::DELETE, "/v1/payments", "POST"),
        (Method::PUT, "/v1/payments/pay_x", "GET"),
        (Method::GET, "/v1/payments/pay_x/cancel", "POST"),
        (Method::PATCH, "/v1/keys", "POST"),
    ] {
        let r = send(method.clone(), path).await.unwrap();
        let allowed = r.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert!(allowed.contains(allow), "{method} {path}: Allow {allowed:?}");
        let got = answer(r).await;
        assert_json_error(&got, 405, "method_not_allowed", None, &format!("{method} {path}"));
    }
    // A person's browser gets a page, never an empty body.
    let r = app.client.get(format!("{}/checkout/pay_x/more", app.url)).send().await.unwrap();
    let got = answer(r).await;
    assert_eq!(got.0, 404);
    assert!(
        got.1.starts_with("text/html") && got.2.as_str().is_some_and(|t| t.contains("Không tìm thấy trang")),
        "{got:?}"
    );
    let r = app.client.delete(format!("{}/checkout/pay_x", app.url)).send().await.unwrap();
    assert!(r.headers().contains_key("allow"));
    let got = answer(r).await;
    assert_eq!(got.0, 405);
    assert!(got.1.starts_with("text/html") && got.2.as_str().is_some_and(|t| !t.is_empty()), "{got:?}");
    let r = app.client.get(format!("{}/nope", app.url)).header("accept", "text/html").send().await.unwrap();
    let got = answer(r).await;
    assert!(got.0 == 404 && got.1.starts_with("text/html"), "{got:?}");
    app.stop().await;
}

/// Sends a create request with the portal key; answers (status, code, field).
async fn create(app: &TestApp, body: &Value) -> (u16, String, Option<String>) {
    error_code(app.post("/v1/payments", &app.portal_key).json(body).send().await.unwrap()).await
}

#[tokio::test]
async fn codes_accept_only_letters_digits_and_dot_dash_underscore_slash() {
    let app = TestApp::spawn().await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = payment_body();
        f(&mut b);
        b
    };
    let bad = [
        (with(&|b| b["dossier_code"] = json!("H12.20 261127")), "dossier_code"),
        (with(&|b| b["dossier_code"] = json!("")), "dossier_code"),
        (with(&|b| b["dossier_code"] = json!(" H12.20-1")), "dossier_code"),
        (with(&|b| b["dossier_code"] = json!("d".repeat(65))), "dossier_code"),
        (with(&|b| b["dossier_code"] = json!("H12<script>")), "dossier_code"),
        (with(&|b| b["procedure_code"] = json!("1.004227;")), "procedure_code"),
        (with(&|b| b["procedure_code"] = json!("mã-1")), "procedure_code"),
        (with(&|b| b["procedure_code"] = json!("1".repeat(33))), "procedure_code"),
        (with(&|b| b["lines"][0]["code"] = json!("LP GPLX")), "lines[0].code"),
        (with(&|b| b["lines"][0]["code"] = json!("LP\u{0}")), "lines[0].code"),
        (with(&|b| b["lines"][0]["code"] = json!("")), "lines[0].code"),
    ];
    for (body, field) in bad {
        assert_eq!(create(&app, &body).await, (422, "invalid_code".into(), Some(field.into())), "{body}");
    }
    let (status, code, field) = create(&app, &with(&|b| b["agency_code"] = json!("H12.20 "))).await;
    assert_eq!((status, code.as_str(), field.as_deref()), (422, "invalid_agency_code", Some("agency_code")));
    assert_eq!(app.count("payments").await, 0, "nothing was written");

    let p = app
        .create_payment(&with(&|b| {
            b["dossier_code"] = json!("000.00.12.H12/2026_0001-A");
            b["procedure_code"] = json!("1.004227/B_2");
            b["lines"][0]["code"] = json!("LP/GPLX_1.2-a");
        }))
        .await;
    assert_eq!(p["dossier_code"], "000.00.12.H12/2026_0001-A");
    assert_eq!(p["procedure_code"], "1.004227/B_2");
    assert_eq!(p["lines"][0]["code"], "LP/GPLX_1.2-a");
    app.stop().await;
}

#[tokio::test]
async fn the_create_body_is_typed_and_refuses_what_it_does_not_know_at_every_level() {
    let app = TestApp::spawn().await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = payment_body();
        f(&mut b);
        b
    };
    let cases: Vec<(Value, &str, Option<&str>)> = vec![
        (with(&|b| b["colour"] = json!("red")), "unknown_field", Some("colour")),
        (with(&|b| b["lines"][0]["vat"] = json!("10")), "unknown_field", Some("lines[0].vat")),
        (with(&|b| b["payer"]["address"] = json!("Phủ Lý")), "unknown_field", Some("payer.address")),
        (with(&|b| b["description"] = Value::Null), "missing_field", Some("description")),
        (with(&|b| b["lines"][0]["amount"] = Value::Null), "missing_field", Some("lines[0].amount")),
        (
            with(&|b| {
                b["lines"][0].as_object_mut().unwrap().remove("kind");
            }),
            "missing_field",
            Some("lines[0].kind"),
        ),
        (with(&|b| b["lines"] = json!({"kind": "fee"})), "invalid_type", Some("lines")),
        (with(&|b| b["lines"][0] = json!("LP")), "invalid_type", Some("lines[0]")),
        // serde reads a struct from an array of its fields in order; a client never means that.
        (with(&|b| b["lines"][0] = json!(["charge", "LP", "d", "135000"])), "invalid_type", Some("lines[0]")),
        (with(&|b| b["payer"] = json!(["Lam", null, null, null])), "invalid_type", Some("payer")),
        (with(&|b| b["payer"]["phone"] = json!(912345678)), "invalid_type", Some("payer.phone")),
        (with(&|b| b["metadata"] = json!([1])), "invalid_type", Some("metadata")),
        (with(&|b| b["expires_in_seconds"] = json!("900")), "invalid_type", Some("expires_in_seconds")),
        (with(&|b| b["expires_in_seconds"] = json!(900.5)), "invalid_expiry", Some("expires_in_seconds")),
        (with(&|b| b["lines"][0]["amount"] = json!("-1")), "invalid_amount", Some("lines[0].amount")),
        (with(&|b| b["lines"][0]["amount"] = json!(" 135000")), "invalid_amount", Some("lines[0].amount")),
        (with(&|b| b["lines"][0]["amount"] = json!("1e5")), "invalid_amount", Some("lines[0].amount")),
        (with(&|b| b["lines"][0]["amount"] = json!("135000.")), "invalid_amount", Some("lines[0].amount")),
        (with(&|b| b["lines"][0]["amount"] = json!(-135000)), "invalid_amount", Some("lines[0].amount")),
        (with(&|b| b["lines"][0]["amount"] = json!({"value": 1})), "invalid_amount", Some("lines[0].amount")),
        (with(&|b| b["description"] = json!("Lệ phí\u{7}")), "invalid_field", Some("description")),
        (with(&|b| b["description"] = json!(format!(" {}", "d".repeat(255)))), "field_too_long", Some("description")),
        (with(&|b| b["lines"] = json!([])), "missing_field", Some("lines")),
    ];
    for (body, code, field) in cases {
        assert_eq!(create(&app, &body).await, (422, code.to_owned(), field.map(str::to_owned)), "{body}");
    }
    assert_eq!(app.count("payments").await, 0, "nothing was written");
    // Whole numbers, zero fractions and nulls of optional fields are all fine.
    let p = app
        .create_payment(&with(&|b| {
            b["lines"][0]["amount"] = json!(135000);
            b["expires_in_seconds"] = json!(900.0);
            b["procedure_code"] = Value::Null;
            b["payer"] = Value::Null;
            b["metadata"] = Value::Null;
        }))
        .await;
    assert_eq!((p["amount"].as_str(), p["procedure_code"].as_str()), (Some("135000"), Some("")));
    let p = app.create_payment(&with(&|b| b["lines"][0]["amount"] = json!("135000.00"))).await;
    assert_eq!(p["amount"], "135000");
    let (status, code, _) = create(&app, &json!(["H12.20", "D-1", null, "d", [], null, "https://x.vn/r"])).await;
    assert_eq!((status, code.as_str()), (422, "invalid_type"));
    // Every typed body (here an admin one): `[null, null]` is not `{}`.
    let r = app
        .client
        .patch(format!("{}/v1/agencies/H12", app.url))
        .bearer_auth(&app.admin_key)
        .json(&json!([null, null]))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (422, "invalid_type".into(), None));
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_create_body_and_every_refusal() {
    let app = TestApp::spawn().await;
    let doc: Value = app.client.get(format!("{}/openapi.json", app.url)).send().await.unwrap().json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    let create = &doc["paths"]["/v1/payments"]["post"];
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/CreatePayment"
    );
    let body = &schemas["CreatePayment"];
    assert_eq!(body["additionalProperties"], false, "{body}");
    let required: Vec<&str> = body["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for f in ["agency_code", "dossier_code", "description", "lines", "return_url"] {
        assert!(required.contains(&f), "{f} required: {body}");
    }
    assert!(!required.contains(&"payer") && !required.contains(&"metadata"));
    assert_eq!(body["properties"]["dossier_code"]["pattern"], "^[A-Za-z0-9._/-]{1,64}$");
    assert_eq!(body["properties"]["lines"]["maxItems"], 100);
    assert_eq!(schemas["CreateLine"]["additionalProperties"], false);
    assert_eq!(schemas["Payer"]["additionalProperties"], false);
    let amount = &schemas["CreateLine"]["properties"]["amount"]["oneOf"];
    assert_eq!(amount[0]["pattern"], "^[0-9]+(\\.[0-9]+)?$", "{amount}");
    assert_eq!(amount[1]["maximum"].as_f64(), Some(1e12), "{amount}");

    let statuses = |op: &Value| -> Vec<String> { op["responses"].as_object().unwrap().keys().cloned().collect() };
    let got = statuses(create);
    for s in ["201", "400", "401", "403", "409", "413", "415", "422", "429", "431", "503"] {
        assert!(got.contains(&s.to_owned()), "POST /v1/payments answers {s}: {got:?}");
    }
    assert!(create["responses"]["429"]["headers"]["Retry-After"].is_object());
    let key = create["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "Idempotency-Key").unwrap();
    assert_eq!((key["in"].as_str(), key["schema"]["pattern"].as_str()), (Some("header"), Some("^[!-~]{1,255}$")));
    let read = statuses(&doc["paths"]["/v1/payments/{id}"]["get"]);
    for s in ["200", "401", "403", "404", "429", "503"] {
        assert!(read.contains(&s.to_owned()), "GET /v1/payments/{{id}} answers {s}: {read:?}");
    }
    let list = doc["paths"]["/v1/payments"]["get"]["parameters"].as_array().unwrap();
    let param = |n: &str| list.iter().find(|p| p["name"] == n).unwrap()["schema"].clone();
    assert_eq!((param("limit")["minimum"].as_f64(), param("limit")["maximum"].as_f64()), (Some(1.0), Some(100.0)));
    assert_eq!(param("created_from")["format"], "date-time");
    let status = param("status").to_string();
    assert!(status.contains("PaymentStatus") || status.contains("partially_refunded"), "{status}");
    // Every /v1 operation lists the refusals any request can meet.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if path.starts_with("/v1/") {
                let got = statuses(op);
                for s in ["400", "401", "403", "429", "431", "503"] {
                    assert!(got.contains(&s.to_owned()), "{method} {path} answers {s}: {got:?}");
                }
            }
        }
    }
    app.stop().await;
}
