export function NoHospital() {
  return (
    <section className="page" data-testid="no-hospital">
      <h2>No hospital</h2>
      <p>
        Your token names no hospital. Admins can open one with the hospital field in the header;
        others need a token with <code>--hospital</code>.
      </p>
    </section>
  );
}
