import PortcullisCore

/// Compiling what the gateway adds on the way to a backend: header edits merged per route
/// and backend, with the backend's credential last.
extension ConfigCompiler {
    func compileEdits(
        route: RouteSpec, backends: [Backend], in file: ConfigFile, report: (SourceLocation, String, String) -> Void
    ) -> [HeaderEdits] {
        backends.map { backend in
            let spec = file.backends.first { $0.name == backend.name }
            if let credential = backend.credential {
                let touched = route.headers.set.map(\.name) + route.headers.add.map(\.name) + route.headers.remove
                if touched.contains(credential.header) {
                    report(
                        route.headers.location ?? route.location, "",
                        "header '\(credential.header)' carries backend '\(backend.name)''s credential and cannot be edited by a route")
                }
            }
            return HeaderEdits(backend: spec?.headers ?? HeaderEditsSpec(), route: route.headers, credential: backend.credential)
        }
    }
}
