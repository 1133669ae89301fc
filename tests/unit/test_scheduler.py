from evd.scheduler import Capacity, QueuedRun, QueueIndex, tick


def make_queue(*runs: QueuedRun) -> QueueIndex:
    queue = QueueIndex()
    for run in runs:
        queue.add(run)
    return queue


def test_starts_in_submit_order_up_to_the_free_slots() -> None:
    queue = make_queue(QueuedRun(3), QueuedRun(1), QueuedRun(2))
    assert tick(0.0, queue, running=0, capacity=Capacity(slots=2)) == [1, 2]
    assert tick(0.0, queue, running=1, capacity=Capacity(slots=2)) == [1]
    assert tick(0.0, queue, running=2, capacity=Capacity(slots=2)) == []


def test_higher_priority_goes_first_then_submit_order() -> None:
    queue = make_queue(
        QueuedRun(1), QueuedRun(2, priority=5), QueuedRun(3, priority=5), QueuedRun(4, priority=-1)
    )
    assert tick(0.0, queue, running=0, capacity=Capacity(slots=10)) == [2, 3, 1, 4]


def test_draining_starts_nothing() -> None:
    queue = make_queue(QueuedRun(1))
    assert tick(0.0, queue, running=0, capacity=Capacity(slots=4, draining=True)) == []


def test_tick_is_pure() -> None:
    queue = make_queue(QueuedRun(1), QueuedRun(2))
    first = tick(0.0, queue, running=0, capacity=Capacity(slots=1))
    assert first == tick(0.0, queue, running=0, capacity=Capacity(slots=1)) == [1]
    assert [run.id for run in queue] == [1, 2]


def test_queue_index_add_remove_membership() -> None:
    queue = make_queue(QueuedRun(1), QueuedRun(2, priority=1))
    queue.add(QueuedRun(2, priority=1))  # already queued: no duplicate
    assert [run.id for run in queue] == [2, 1]
    queue.remove(2)
    queue.remove(99)  # not queued: no-op
    assert 2 not in queue and 1 in queue and len(queue) == 1
    queue.add(QueuedRun(3, priority=2))
    assert (queue.position(3), queue.position(1), queue.position(2)) == (0, 1, None)
