"""The console's use cases: each calls the services' APIs as the signed-in person (through
adapters.services) and hands the page a view model from domain/."""
