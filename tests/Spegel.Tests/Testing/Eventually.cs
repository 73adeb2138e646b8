namespace Spegel.Tests.Testing;

/// <summary>
/// Waits for something the code under test does on its own threads. There is no time limit to meet: the wait ends
/// when the condition holds, and <see cref="HangGuard"/> only turns a hang (a bug) into a failure instead of a test
/// run that never ends. It is never what a test asserts, so a slow, loaded machine cannot fail a test through it.
/// </summary>
internal static class Eventually
{
    /// <summary>Far beyond anything a correct run needs, even on two busy cores.</summary>
    public static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(2);

    public static Task WaitAsync(Func<bool> condition, string what) => WaitAsync(() => Task.FromResult(condition()), what);

    public static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        using var guard = new CancellationTokenSource(HangGuard);
        while (!await condition())
        {
            try
            {
                await Task.Delay(10, guard.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"hung: {what} never happened (hang guard {HangGuard.TotalMinutes} min)");
            }
        }
    }

    /// <summary>The task's result; a task that never ends fails the test after the hang guard.</summary>
    public static async Task<T> Within<T>(this Task<T> task, string what)
    {
        try
        {
            return await task.WaitAsync(HangGuard);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"hung: {what} never finished (hang guard {HangGuard.TotalMinutes} min)");
            throw;
        }
    }

    /// <inheritdoc cref="Within{T}(Task{T}, string)"/>
    public static async Task Within(this Task task, string what)
    {
        try
        {
            await task.WaitAsync(HangGuard);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"hung: {what} never finished (hang guard {HangGuard.TotalMinutes} min)");
        }
    }
}
