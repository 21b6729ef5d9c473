from upres.cli import main

# The guard matters: spawned worker processes (Windows, macOS, `prepare -j`) import this module as __mp_main__.
if __name__ == "__main__":
    raise SystemExit(main())
