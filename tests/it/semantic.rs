//! The `[search]` settings and the hybrid ranker: a model directory is validated (key path,
//! missing files), relative paths follow the config file, and with the real all-MiniLM-L6-v2
//! model a gateway finds tools by meaning where lexical search cannot, embeds tools in the
//! background (shown in `/readyz`), and still finds nothing for a query about nothing it serves.

use mcp_gateway::config::{Config, EnvLookup};

#[test]
fn a_model_dir_is_checked_with_its_key_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, "[search]\nmodel_dir = \"no-such-model\"\n").expect("write");
    let problems = match Config::load_with(Some(&path), &EnvLookup::default()) {
        Ok(config) => panic!("expected a problem, got {config:?}"),
        Err(error) => error.problems,
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "search.model_dir");
    if cfg!(feature = "semantic") {
        // Relative to the file's directory, and every missing file named.
        let expected = dir.path().join("no-such-model");
        assert!(
            problems[0].message.starts_with(&format!(
                "{} lacks config.json, tokenizer.json, model.safetensors",
                expected.display()
            )),
            "{problems:?}"
        );
    } else {
        assert!(
            problems[0].message.contains("--features semantic"),
            "{problems:?}"
        );
    }
    std::fs::write(&path, "[search]\nmodel = \"x\"\n").expect("write");
    let error = Config::load_with(Some(&path), &EnvLookup::default()).expect_err("unknown key");
    assert_eq!(error.problems[0].path, "search.model");
}

/// The hybrid ranker with the real model (the model is installed by `scripts/fetch-model`).
#[cfg(feature = "semantic")]
mod hybrid {
    use std::sync::Arc;

    use rmcp::model::Tool;
    use serde_json::{Value, json};

    use crate::support::*;

    fn tool(name: &str, description: &str) -> Tool {
        let Value::Object(map) = json!({"type": "object"}) else {
            unreachable!()
        };
        Tool::new(name.to_string(), description.to_string(), Arc::new(map))
    }

    fn chat_tools() -> Vec<Tool> {
        vec![
            tool("add_reaction", "Add an emoji reaction to a message"),
            tool("post_message", "Post a new message to a channel"),
            tool("list_channels", "List the channels of the workspace"),
            tool(
                "get_forecast",
                "Weather forecast for a city for the next days",
            ),
            tool("upload_file", "Upload a file and share it in a channel"),
        ]
    }

    async fn search(client: &Client, query: &str) -> (String, Vec<String>, Value) {
        let found = json_of(&call(client, "discover_tools", json!({ "query": query })).await);
        let names = found["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str().map(String::from))
            .collect();
        (
            found["ranker"].as_str().unwrap_or("").to_string(),
            names,
            found,
        )
    }

    #[tokio::test]
    async fn the_hybrid_ranker_finds_tools_by_meaning() {
        let up = HttpUpstream::start(TestUpstream::with_tools("chat", chat_tools())).await;
        let table = http_table("chat", &up.url());
        let lexical = TestGateway::start(&table).await;
        let model = model_dir();
        let hybrid = TestGateway::start(&format!(
            "[search]\nmodel_dir = \"{}\"\n{table}",
            model.display()
        ))
        .await;
        let readyz = format!("{}/readyz", hybrid.base());
        assert!(
            until(60, || async {
                get_json(&readyz).await.1["search"]["embedded"] == json!(5)
            })
            .await,
            "tools embedded in the background: {}",
            get_json(&readyz).await.1
        );
        assert_eq!(get_json(&readyz).await.1["search"]["ranker"], "hybrid");
        let (_, body) = get_json(&format!("{}/readyz", lexical.base())).await;
        assert_eq!(body["search"], json!({"ranker": "lexical"}));

        let (hybrid_client, lexical_client) = (hybrid.client().await, lexical.client().await);
        for (query, expected) in [
            ("thumbs up the announcement", "add_reaction"),
            ("will it rain in Paris tomorrow", "get_forecast"),
        ] {
            let (ranker, names, found) = search(&hybrid_client, query).await;
            assert_eq!(ranker, "hybrid");
            assert_eq!(
                names.first().map(String::as_str),
                Some(expected),
                "{query}: {found}"
            );
            let (ranker, names, _) = search(&lexical_client, query).await;
            assert_eq!(ranker, "lexical");
            assert_ne!(
                names.first().map(String::as_str),
                Some(expected),
                "lexical search alone should miss {query:?} (else this test proves nothing)"
            );
        }
        // Words shared with a tool still count: an exact name stays first.
        let (_, names, _) = search(&hybrid_client, "upload_file").await;
        assert_eq!(names[0], "upload_file");
        // A query about nothing served finds nothing, and says so.
        let (_, names, found) = search(&hybrid_client, "zebra quantum").await;
        assert!(names.is_empty(), "{found}");
        assert!(
            found["message"]
                .as_str()
                .is_some_and(|m| m.contains("No tool matched"))
        );

        // A tool that appears later is embedded too.
        up.server
            .push(tool("delete_message", "Remove a message from a channel"));
        call(&hybrid_client, "refresh_registry", json!({})).await;
        assert!(
            until(60, || async {
                get_json(&readyz).await.1["search"]["embedded"] == json!(6)
            })
            .await,
            "{}",
            get_json(&readyz).await.1
        );
        let (_, names, _) = search(&hybrid_client, "get rid of that chat post").await;
        assert_eq!(names.first().map(String::as_str), Some("delete_message"));
        hybrid.stop().await;
        lexical.stop().await;
    }

    #[tokio::test]
    async fn a_model_that_cannot_load_stops_the_start_as_a_config_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        for file in mcp_gateway::config::MODEL_FILES {
            std::fs::write(dir.path().join(file), b"not a model").expect("write");
        }
        let config = config_from(&format!(
            "[search]\nmodel_dir = \"{}\"\n",
            dir.path().display()
        ));
        let error = match mcp_gateway::app::start(config, None).await {
            Ok(_) => panic!("started with a garbage model"),
            Err(error) => error,
        };
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert!(
            error
                .to_string()
                .starts_with("search.model_dir: cannot load the embedding model"),
            "{error}"
        );
    }
}
