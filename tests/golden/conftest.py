"""The .mtus files here are golden inputs (many deliberately broken), not guideline tests."""

collect_ignore_glob = ["*.mtus", "*/*.mtus"]
