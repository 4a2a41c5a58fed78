/// The embedded quickstart config, used when `portcullis` runs without `--config`: a data
/// listener on 127.0.0.1:8080, the admin listener on 127.0.0.1:9901 and the in-process mock
/// backend serving two demo models, behind API-key authentication with one demo key (printed
/// in the start banner) so the first thing a user meets is the gateway checking who is calling.
public enum Quickstart {
    /// The quickstart's demo API key. Its SHA-256 is in the YAML below.
    public static let demoAPIKey = "pc-quickstart-demo-key"

    public static let yaml = """
        listeners:
          - name: quickstart
            address: 127.0.0.1:8080
        admin:
          address: 127.0.0.1:9901
        mock:
          models: [demo-chat, demo-embed]
          chunks: 8
          chunkDelay: 20ms
        authentication:
          apiKeys:
            - name: quickstart-demo
              tenant: demo
              sha256: ac7fde03c2109964ab87f7a720c1dbaebb816e4047951928642a1fab937bccc5
        tenants:
          demo: { plan: starter, org: demo-org }
        plans:
          starter:
            limits: { requestsPerMinute: 60, burst: 10, concurrency: 4, tokensPerHour: 100000, maxRequestBytes: 1048576, maxTokens: 4096 }
        backends:
          mock:
            endpoints: [builtin:mock]
        routes:
          - name: demo-chat
            match: { model: demo-chat }
            backend: mock
          - name: demo-embed
            match: { model: demo-embed }
            backend: mock
        """
}
