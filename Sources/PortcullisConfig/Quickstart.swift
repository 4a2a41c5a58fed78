/// The embedded quickstart config, used when `portcullis` runs without `--config`: a data
/// listener on 127.0.0.1:8080, the admin listener on 127.0.0.1:9901 and the in-process mock
/// backend serving two demo models.
public enum Quickstart {
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
