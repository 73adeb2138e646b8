using Spegel.Cli;

return await SpegelCli.RunAsync(args).ConfigureAwait(false);
