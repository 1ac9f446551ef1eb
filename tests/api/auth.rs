//! Token verification with every supported algorithm and key source.

use dvc_gateway::auth::{AuthError, Caller, KeyError, Role, Signer, Verifier};
use dvc_gateway::config::Settings;

fn key(name: &str) -> String {
    format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn settings(vars: &[(&str, String)]) -> Settings {
    Settings::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap()
}

#[test]
fn asymmetric_algorithms_verify_from_pem_and_jwks() {
    let cases = [
        ("RS256", "rsa_private.pem", ("JWT_PUBLIC_KEY_FILE", "rsa_public.pem")),
        ("RS256", "rsa_private.pem", ("JWT_JWKS_FILE", "rsa_jwks.json")),
        ("ES256", "ec_private.pem", ("JWT_PUBLIC_KEY_FILE", "ec_public.pem")),
        ("EdDSA", "ed25519_private.pem", ("JWT_PUBLIC_KEY_FILE", "ed25519_public.pem")),
    ];
    for (alg, private, (var, public)) in cases {
        let s =
            settings(&[("JWT_ALG", alg.into()), ("JWT_PRIVATE_KEY_FILE", key(private)), (var, key(public))]);
        let signer = Signer::new(&s.jwt).unwrap();
        let verifier = Verifier::new(&s.jwt).unwrap();
        let t = signer.sign("leader-1", Role::Leader, Some("49"), 600).unwrap();
        assert_eq!(
            verifier.verify(&t).map(|v| v.caller),
            Ok(Caller::Staff { sub: "leader-1".into(), role: Role::Leader, unit: "49".into() }),
            "{alg} {var}"
        );

        // The algorithm is pinned: an HS256 token (even one signed with the public key as secret) is refused.
        let hs = settings(&[("JWT_SECRET", std::fs::read_to_string(key(public)).unwrap())]);
        let forged = Signer::new(&hs.jwt).unwrap().sign("x", Role::Admin, Some("VN"), 600).unwrap();
        assert_eq!(verifier.verify(&forged), Err(AuthError::WrongAlgorithm), "{alg}");
    }
}

#[test]
fn a_token_signed_by_another_key_or_with_alg_none_is_refused() {
    let a = settings(&[("JWT_SECRET", "one".into())]);
    let b = settings(&[("JWT_SECRET", "two".into())]);
    let t = Signer::new(&a.jwt).unwrap().sign("x", Role::Admin, Some("VN"), 600).unwrap();
    assert!(matches!(Verifier::new(&b.jwt).unwrap().verify(&t), Err(AuthError::Invalid(_))));

    // {"alg":"none"} with the same claims and no signature.
    let mut parts = t.split('.');
    parts.next();
    let claims = parts.next().unwrap();
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.");
    // `none` is no algorithm the token library knows: the header itself does not parse.
    assert_eq!(Verifier::new(&a.jwt).unwrap().verify(&none).map(|v| v.caller), Err(AuthError::Malformed));
}

#[test]
fn missing_key_material_is_a_start_up_error() {
    let s = settings(&[("JWT_ALG", "RS256".into())]);
    match Verifier::new(&s.jwt) {
        Err(KeyError::Key(m)) => assert!(m.contains("needs JWT_PUBLIC_KEY_FILE or JWT_JWKS_FILE"), "{m}"),
        other => panic!("RS256 without a key: {other:?}"),
    }
    let s = settings(&[("JWT_ALG", "ES256".into()), ("JWT_PUBLIC_KEY_FILE", key("missing.pem"))]);
    match Verifier::new(&s.jwt) {
        Err(KeyError::File(path, e)) => {
            assert!(path.ends_with("missing.pem") && e.kind() == std::io::ErrorKind::NotFound, "{path}: {e}")
        }
        other => panic!("ES256 with a missing key file: {other:?}"),
    }
}
