"""Support domain tests: uploads verification, file storage, the ticket workflow."""
