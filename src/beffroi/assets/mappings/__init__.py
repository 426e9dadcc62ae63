"""Column mappings for the inventories Beffroi knows how to import (TOML files)."""
