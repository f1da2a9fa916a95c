"""`manage.py payments_reconcile`: finish the payment operations left in doubt;
`--check` compares the store's books with the gateway's ledger."""

from django.core.management.base import BaseCommand, CommandError

from payment.reconcile import payments_check, payments_reconcile


class Command(BaseCommand):
    help = (
        "Finish payment operations left in doubt by a crash or an outage (look up lost "
        "answers, void unused authorizations, capture what committed purchases use). "
        "With --check, only list disagreements between the books and the gateway's "
        "ledger, and fail when there is one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="report only; exit 1 on any")
        parser.add_argument(
            "--grace",
            type=float,
            default=None,
            help="seconds to leave an operation alone first (PAYMENT_RECONCILE_GRACE_SECONDS)",
        )

    def handle(self, *args, check: bool, grace: float | None, **options):
        if check:
            problems = payments_check(grace_seconds=grace)
            for problem in problems:
                self.stdout.write(problem)
            if problems:
                raise CommandError(f"{len(problems)} disagreement(s) with the gateway's ledger")
            self.stdout.write("the books agree with the gateway's ledger")
            return
        done = payments_reconcile(grace_seconds=grace)
        for action, n in sorted(done.items()):
            self.stdout.write(f"{action}: {n}")
        if not done:
            self.stdout.write("nothing in doubt")
