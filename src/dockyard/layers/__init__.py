"""Tar <-> filesystem: apply layers to snapshots, produce layers from them, compress them.

`apply.apply_layer` extracts, `diff.tar_dir` / `diff.diff_overlay` / `diff.diff_dirs` produce,
`changes.changes` lists what `docker diff` shows, `compression` reads and writes gzip and zstd.
"""
