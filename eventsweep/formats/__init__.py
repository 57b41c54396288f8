"""The file formats themselves, read and written (sources and sinks are adapters over them)."""
