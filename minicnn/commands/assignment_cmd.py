"""``assignment`` and ``grade`` commands: student workspaces and the offline autograder.

    python -m minicnn assignment list               # the assignments
    python -m minicnn assignment start 1 [DIR]      # write a workspace (never overwrites)
    python -m minicnn grade [DIR] [--assignment N] [--function NAME]

``grade`` prints PASS / FAIL / NOT IMPLEMENTED and the points of every
function, and for a failure the first failing case, the relative error and a
hint; its exit code is 0 only when every graded function passes.
"""
import sys


def register(sub):
    p = sub.add_parser("assignment", help="list the assignments or start a workspace",
                       description="Assignments following the lecture: starter code with TODO "
                                   "blocks, a notebook, and `minicnn grade` to check them.")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="list the assignments")
    s = actions.add_parser("start", help="write the workspace of assignment N into DIR",
                           description="Write the starter file(s), the notebook and a README "
                                       "of assignment N into DIR (default: a folder named "
                                       "after the assignment).  Refuses to overwrite files.")
    s.add_argument("number", type=int, help="the assignment number (see `assignment list`)")
    s.add_argument("dir", nargs="?", default=None, help="the workspace folder")
    s.add_argument("--force", action="store_true",
                   help="replace existing files, keeping a .bak copy of each")
    p.set_defaults(func=run_assignment)

    g = sub.add_parser("grade", help="grade a workspace: PASS / FAIL / NOT IMPLEMENTED with "
                                     "hints",
                       description="Grade the student's functions offline (float64, random "
                                   "and edge cases, numeric gradients).  Exit code 0 only when "
                                   "all pass.")
    g.add_argument("dir", nargs="?", default=".",
                   help="the workspace folder or a student .py file (default: .)")
    g.add_argument("--assignment", type=int, default=None,
                   help="the assignment number (default: read from the workspace)")
    g.add_argument("--function", action="append", default=None, metavar="NAME",
                   help="grade only this function (repeatable)")
    g.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help="time limit per function (default 60)")
    g.set_defaults(func=run_grade)


def run_assignment(args):
    from ..grading import workspace
    if args.action in (None, "list"):
        print(workspace.describe())
        print("\nStart one with: python -m minicnn assignment start N [DIR]")
        return 0
    try:
        dest, written, backups = workspace.start(args.number, args.dir, force=args.force)
    except (FileExistsError, NotADirectoryError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for bak in backups:
        print(f"kept {bak}")
    print(f"wrote the workspace of assignment {args.number} into {dest}:")
    for path in written:
        if not path.name.startswith("."):
            print(f"  {path.name}")
    print(f"next: open the notebook in {dest}, then `python -m minicnn grade {dest}`")
    return 0


def run_grade(args):
    from ..grading import DEFAULT_TIME_LIMIT, grade
    try:
        report = grade(args.dir, assignment=args.assignment, function=args.function,
                       time_limit=args.time_limit or DEFAULT_TIME_LIMIT)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.text())
    return 0 if report.passed else 1
