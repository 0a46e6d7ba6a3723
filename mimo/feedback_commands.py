"""The commands about the collected digits: `python -m mimo feedback {count,export,import}`
(mimo.cli parses their arguments).

The store is the one the app uses (mimo.feedback.store.FeedbackStore.from_environment:
$MIMO_DATABASE_URL, else a SQLite file in $MIMO_DATA_DIR or the registry directory).

    count        how many digits the collection holds, how many of them training uses and how
                 many are held back for evaluation
    export PATH  the collection as an mnist.npz-layout file (mimo.feedback.dataset): the rows
                 training uses as x_train/y_train, the held-back rows as x_test/y_test, so that
                 `python -m mimo train --data PATH` trains on it
    import PATH  every picture of an mnist.npz-layout file (both splits) added to the collection

Every failure is one line (mimo.cli.CliError): a store that cannot be opened, a collection too
small to export, a file that cannot be written or read.
"""

from __future__ import annotations

from mimo.feedback import dataset
from mimo.feedback.errors import FeedbackError


def cmd_feedback(args) -> int:
    return ACTIONS[args.action](args)


def _open_store():
    from mimo.cli import CliError
    from mimo.feedback.store import FeedbackStore

    try:
        return FeedbackStore.from_environment()
    except FeedbackError as exc:
        raise CliError(str(exc)) from None


def _collection(store):
    from mimo.cli import CliError

    try:
        return store.arrays()
    except FeedbackError as exc:
        raise CliError(str(exc)) from None


def cmd_count(args) -> int:
    store = _open_store()
    try:
        arrays = _collection(store)
        location = store.location
    finally:
        store.close()
    training, held_back = dataset.split(arrays).sizes
    total, used = dataset.digit_count(training + held_back), dataset.digit_count(training)
    print(f"{total} in {location}: {used} to train on, {held_back:,} held back")
    return 0


def cmd_export(args) -> int:
    from mimo.cli import CliError

    store = _open_store()
    try:
        arrays = _collection(store)
    finally:
        store.close()
    try:
        written = dataset.export_npz(arrays, args.path)
    except FeedbackError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{args.path} cannot be written ({exc.strerror or exc})") from None
    used, held_back = written.sizes
    print(
        f"wrote {args.path}: {dataset.digit_count(used)} to train on (x_train, y_train) and "
        f"{dataset.digit_count(held_back)} held back (x_test, y_test)"
    )
    return 0


def cmd_import(args) -> int:
    from mimo.cli import CliError
    from mimo.train.data import DataUnavailable

    store = _open_store()
    try:
        added = dataset.import_npz(args.path, store)
        total = store.count()
    except (DataUnavailable, FeedbackError) as exc:
        raise CliError(str(exc)) from None
    finally:
        store.close()
    added, total = dataset.digit_count(added), dataset.digit_count(total)
    print(f"added {added} from {args.path}; the collection now holds {total}")
    return 0


ACTIONS = {"count": cmd_count, "export": cmd_export, "import": cmd_import}
