"""Pure view rules of the console: what a page shows and says, decided from the services'
answers. No I/O, no HTTP, no clock."""
