import sys

# The guard matters: spawned worker processes (Windows, macOS, `prepare -j`) import this module as __mp_main__.
if __name__ == "__main__":
    try:
        from upres.cli import main
    except KeyboardInterrupt:  # Ctrl+C while Python was still importing
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    raise SystemExit(main())
