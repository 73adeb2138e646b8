using System.IO.Pipelines;

namespace Spegel.Registry;

/// <summary>Counts the bytes written through a pipe, so a response cut short is logged and measured as what was sent.</summary>
internal sealed class CountingPipeWriter(PipeWriter inner) : PipeWriter
{
    public long Count { get; private set; }

    public override void Advance(int bytes)
    {
        inner.Advance(bytes);
        Count += bytes;
    }

    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);
}
