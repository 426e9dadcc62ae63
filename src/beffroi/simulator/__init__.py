"""The simulated city: realistic readings for every asset type, calibrated on real open data,
deterministic from a seed (see docs/simulator.md). ``engine.Simulator`` generates ticks;
``drivers`` backfills history or streams live readings; ``placement`` puts synthetic assets in a
demo territory; ``models`` declares every calibration table with its source."""
