"""``python -m ymir_executor``: runs the task in the folders the environment names."""

from ymir_executor.app import main

if __name__ == "__main__":
    main()
