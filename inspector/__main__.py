from inspector.cli import main

if __name__ == "__main__":  # the writer process re-imports this module under another name
    raise SystemExit(main())
